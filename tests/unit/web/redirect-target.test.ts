import { describe, expect, it } from 'vitest'
import { sameOriginPath } from '../../../web/src/lib/server/redirect-target.ts'

const portal = 'https://portal.example.com'

describe('sameOriginPath', () => {
  it.each([
    ['/t/acme/agents', '/t/acme/agents'],
    ['/t/acme/conversations?status=open#latest', '/t/acme/conversations?status=open#latest'],
    ['/invite/abc', '/invite/abc'],
    ['/a/../b', '/b'],
  ])('keeps the portal path %s', (next, expected) => {
    expect(sameOriginPath(next, portal)).toBe(expected)
  })

  it.each([
    ['//evil.example', 'protocol-relative'],
    ['/\\evil.example', 'backslash read as a slash'],
    ['/\t/evil.example', 'tab stripped by the URL parser'],
    ['/\n/evil.example', 'newline stripped by the URL parser'],
    ['/%09/evil.example', 'percent-encoded tab stays a path'],
    ['https://evil.example/', 'absolute URL'],
    ['javascript:alert(1)', 'script URL'],
    ['evil.example', 'relative without a slash'],
    ['', 'empty'],
  ])('refuses %j (%s)', (next, _why) => {
    const result = sameOriginPath(next, portal)
    expect(new URL(result, portal).origin).toBe(portal)
    if (next !== '/%09/evil.example') expect(result).toBe('/')
  })

  it('uses the fallback when there is no next', () => {
    expect(sameOriginPath(null, portal, '/t')).toBe('/t')
  })
})
