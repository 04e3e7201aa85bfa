// Contact avatars (web/src/lib/avatar.ts): only https images on Slack's own hosts are
// loaded; anything else (another host, http, credentials, a look-alike domain) falls back
// to initials.
import { describe, expect, it } from 'vitest'
import { avatarSource, initials } from '../../../web/src/lib/avatar.ts'

describe('avatarSource', () => {
  it.each([
    'https://avatars.slack-edge.com/2026-01-01/1_72.png',
    'https://ca.slack-edge.com/T0123-U0123-abc-72',
    'https://a.slack-edge.com/80588/img/avatars/ava_0001-72.png',
  ])('loads %s', (url) => {
    expect(avatarSource(url)).toBe(url)
  })

  it.each([
    null,
    '',
    'not a url',
    'http://avatars.slack-edge.com/1_72.png',
    'https://tracker.example/pixel.png',
    'https://slack-edge.com.evil.example/1.png',
    'https://evilslack-edge.com/1.png',
    'https://user:pw@avatars.slack-edge.com/1.png',
    'https://avatars.slack-edge.com:8443/1.png',
    'javascript:alert(1)',
    'data:image/png;base64,AAAA',
  ])('refuses %s', (url) => {
    expect(avatarSource(url)).toBeNull()
  })
})

describe('initials', () => {
  it.each([
    ['Maria Lopez', 'ML'],
    ['grace', 'G'],
    ['  Ada   King  Lovelace ', 'AL'],
    ['élodie durand', 'ÉD'],
    [null, '?'],
    ['   ', '?'],
  ])('%s → %s', (name, expected) => {
    expect(initials(name)).toBe(expected)
  })
})
