import { describe, expect, it } from 'vitest'
import {
  buildSlackInstallUrl,
  SLACK_BOT_SCOPES,
  signOAuthState,
  verifyOAuthState,
} from '../../../shared/channels/slack/oauth.ts'
import manifest from '../../../slack/manifest.json' with { type: 'json' }

const secret = 'state-secret'
const now = new Date('2025-03-01T12:00:00Z')

describe('buildSlackInstallUrl', () => {
  it('builds the v2 authorize URL with scopes, redirect and state', () => {
    const url = new URL(
      buildSlackInstallUrl({
        clientId: '123.456',
        redirectUri: 'https://ref.supabase.co/functions/v1/slack-oauth',
        state: 'abc.def',
      }),
    )
    expect(url.origin + url.pathname).toBe('https://slack.com/oauth/v2/authorize')
    expect(url.searchParams.get('client_id')).toBe('123.456')
    expect(url.searchParams.get('scope')!.split(',')).toEqual([...SLACK_BOT_SCOPES])
    expect(url.searchParams.get('redirect_uri')).toBe('https://ref.supabase.co/functions/v1/slack-oauth')
    expect(url.searchParams.get('state')).toBe('abc.def')
    expect(url.searchParams.has('user_scope')).toBe(false)
  })

  it('can point at another authorize URL and pre-select a team', () => {
    const url = new URL(
      buildSlackInstallUrl({
        clientId: 'c',
        redirectUri: 'http://127.0.0.1/cb',
        state: 's',
        authorizeUrl: 'http://127.0.0.1:9/oauth/v2/authorize',
        teamId: 'T1',
      }),
    )
    expect(url.host).toBe('127.0.0.1:9')
    expect(url.searchParams.get('team')).toBe('T1')
  })

  it('asks for exactly the bot scopes the manifest declares', () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...SLACK_BOT_SCOPES].sort())
  })
})

describe('OAuth state', () => {
  it('round-trips tenant, user and nonce', async () => {
    const signed = await signOAuthState({
      secret,
      tenantId: 'tenant-1',
      userId: 'user-1',
      browserHash: 'b'.repeat(64),
      now,
    })
    const verified = await verifyOAuthState({
      secret,
      state: signed.state,
      now: new Date(now.getTime() + 60_000),
      expectedUserId: 'user-1',
    })
    expect(verified).toEqual({
      ok: true,
      tenantId: 'tenant-1',
      userId: 'user-1',
      nonce: signed.nonce,
      browserHash: 'b'.repeat(64),
      expiresAt: signed.expiresAt,
    })
    expect(signed.state).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
  })

  it('gives every state a fresh nonce for single use', async () => {
    const a = await signOAuthState({ secret, tenantId: 't', userId: 'u', browserHash: 'b'.repeat(64), now })
    const b = await signOAuthState({ secret, tenantId: 't', userId: 'u', browserHash: 'b'.repeat(64), now })
    expect(a.nonce).not.toBe(b.nonce)
    expect(a.state).not.toBe(b.state)
  })

  it('expires', async () => {
    const { state } = await signOAuthState({
      secret,
      tenantId: 't',
      userId: 'u',
      browserHash: 'b'.repeat(64),
      now,
      ttlSeconds: 600,
    })
    expect(await verifyOAuthState({ secret, state, now: new Date(now.getTime() + 600_000) })).toEqual({
      ok: false,
      reason: 'expired',
    })
  })

  it('refuses a state for another user, a wrong secret, tampering and garbage', async () => {
    const { state } = await signOAuthState({
      secret,
      tenantId: 'tenant-1',
      userId: 'user-1',
      browserHash: 'b'.repeat(64),
      now,
    })
    expect(await verifyOAuthState({ secret, state, now, expectedUserId: 'user-2' })).toEqual({
      ok: false,
      reason: 'wrong_user',
    })
    expect(await verifyOAuthState({ secret: 'other', state, now })).toEqual({ ok: false, reason: 'bad_signature' })

    const [payload, signature] = state.split('.') as [string, string]
    const forged = Buffer.from(
      JSON.stringify({ p: 'slack_install', t: 'tenant-2', u: 'user-1', n: 'x', exp: 9999999999 }),
    ).toString('base64url')
    expect(await verifyOAuthState({ secret, state: `${forged}.${signature}`, now })).toEqual({
      ok: false,
      reason: 'bad_signature',
    })
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'AB' : 'AA')
    expect(await verifyOAuthState({ secret, state: `${payload}.${flipped}`, now })).toEqual({
      ok: false,
      reason: 'bad_signature',
    })

    expect(await verifyOAuthState({ secret, state: null, now })).toEqual({ ok: false, reason: 'missing' })
    expect(await verifyOAuthState({ secret, state: 'nodot', now })).toEqual({ ok: false, reason: 'malformed' })
    expect(await verifyOAuthState({ secret, state: 'a.b.c', now })).toEqual({ ok: false, reason: 'malformed' })
    expect(await verifyOAuthState({ secret, state: 'a.!!!', now })).toEqual({ ok: false, reason: 'malformed' })
  })
})
