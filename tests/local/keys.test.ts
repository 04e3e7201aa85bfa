// The local stack's keys, as today's Supabase CLI issues them: a publishable and a secret
// key mapped to their roles, user sessions signed with an ES256 key served as a JWKS (and
// kept across restarts of a file-backed stack), anonymous sign-in, and the legacy
// anon/service_role keys still accepted.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createClient } from '@supabase/supabase-js'
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { LOCAL_PUBLISHABLE_KEY, LOCAL_SECRET_KEY, loadKeys, signLegacyJwt, signSession } from '../../local/keys.ts'
import { repoRoot, startTestStack, type TestStack } from '../support/stack.ts'

const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: WebSocket as never },
  db: { schema: 'api' },
}

const fixture = `
create function api.test_keys_whoami() returns jsonb language sql stable security invoker as $$
  select jsonb_build_object('role', current_user, 'sub', auth.uid(), 'anonymous', auth.jwt() ->> 'is_anonymous')
$$;
grant execute on function api.test_keys_whoami() to anon, authenticated, service_role;
`

let stack: TestStack
const scratch = mkdtempSync(join(tmpdir(), 'konstruct-keys-'))
beforeAll(async () => {
  stack = await startTestStack()
  await stack.db.asOwner((tx) => tx.exec(fixture))
})
afterAll(async () => {
  await stack?.close()
  rmSync(scratch, { recursive: true, force: true })
})

const whoami = async (key: string, accessToken?: string) => {
  const client = createClient(stack.url, key, {
    ...options,
    ...(accessToken ? { global: { headers: { Authorization: `Bearer ${accessToken}` } } } : {}),
  })
  return client.rpc('test_keys_whoami')
}

describe('API keys', () => {
  test('the publishable key is anon and the secret key is service_role; the legacy keys still are', async () => {
    expect(stack.keys.publishableKey).toBe(LOCAL_PUBLISHABLE_KEY)
    expect(stack.keys.secretKey).toBe(LOCAL_SECRET_KEY)
    expect((await whoami(stack.keys.publishableKey)).data).toMatchObject({ role: 'anon', sub: null })
    expect((await whoami(stack.keys.secretKey)).data).toMatchObject({ role: 'service_role' })
    expect((await whoami(stack.keys.anonKey)).data).toMatchObject({ role: 'anon' })
    expect((await whoami(stack.keys.serviceRoleKey)).data).toMatchObject({ role: 'service_role' })
  })

  test('an unknown key is refused, and a secret key as a bearer does not lift a publishable request', async () => {
    const unknown = await whoami('sb_publishable_not-this-projects-key')
    expect(unknown.error?.message).toBe('Invalid API key')
    expect(unknown.data).toBeNull()
    // A bearer that is not a JWT nor one of the keys: refused, not anon.
    const response = await fetch(`${stack.url}/rest/v1/rpc/test_keys_whoami`, {
      method: 'POST',
      headers: {
        apikey: stack.keys.publishableKey,
        authorization: 'Bearer sb_secret_guessed',
        'content-type': 'application/json',
        'content-profile': 'api',
      },
      body: '{}',
    })
    expect(response.status).toBe(401)
  })
})

describe('sessions', () => {
  test('a user signed in with the publishable key calls the api with an ES256 session the JWKS verifies', async () => {
    const user = await stack.newUser('keys')
    const { data } = await user.client.auth.getSession()
    const token = data.session!.access_token
    const header = decodeProtectedHeader(token)
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: stack.keys.signing.kid })
    const jwks = await (await fetch(`${stack.url}/auth/v1/.well-known/jwks.json`)).json()
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['ES256'] })
    expect(payload.sub).toBe(user.userId)
    expect((await user.client.rpc('test_keys_whoami')).data).toMatchObject({ role: 'authenticated', sub: user.userId })
  })

  test('a session signed by another key, or expired, is refused; a legacy HS256 one still works locally', async () => {
    const user = await stack.newUser('keys-forged')
    const claims = { sub: user.userId, role: 'authenticated', aud: 'authenticated' }
    const { privateKey } = await generateKeyPair('ES256')
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: stack.keys.signing.kid })
      .setExpirationTime('1h')
      .sign(privateKey)
    expect((await whoami(stack.keys.publishableKey, forged)).error?.code).toBe('PGRST301')
    expect((await whoami(stack.keys.publishableKey, await signSession(stack.keys, claims, -60))).error?.code).toBe(
      'PGRST303',
    )
    const legacy = await signLegacyJwt(stack.keys.jwtSecret, claims, 600)
    expect((await whoami(stack.keys.anonKey, legacy)).data).toMatchObject({ role: 'authenticated', sub: user.userId })
  })

  test('anonymous sign-in gives an authenticated user marked is_anonymous', async () => {
    const client = createClient(stack.url, stack.keys.publishableKey, options)
    const { data, error } = await client.auth.signInAnonymously()
    expect(error).toBeNull()
    expect(data.user?.is_anonymous).toBe(true)
    expect((await client.rpc('test_keys_whoami')).data).toMatchObject({
      role: 'authenticated',
      sub: data.user!.id,
      anonymous: 'true',
    })
    // It refreshes like any session.
    const { data: refreshed, error: refreshError } = await client.auth.refreshSession()
    expect(refreshError).toBeNull()
    expect(refreshed.user?.id).toBe(data.user!.id)
  })
})

describe('the signing key', () => {
  test('a file-backed stack keeps its signing key across restarts, in the CLI signing_keys.json format', async () => {
    const file = join(scratch, 'signing_keys.json')
    const first = await loadKeys({ signingKeysFile: file })
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>
    expect(stored).toHaveLength(1)
    expect(stored[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: first.signing.kid })
    const token = await signSession(first, { sub: 'x', role: 'authenticated' }, 600)
    const second = await loadKeys({ signingKeysFile: file })
    expect(second.signing.kid).toBe(first.signing.kid)
    await expect(jwtVerify(token, createLocalJWKSet(second.jwks))).resolves.toBeTruthy()
    // In memory, every start has its own key.
    expect((await loadKeys()).signing.kid).not.toBe((await loadKeys()).signing.kid)
  })
})

test('npm run env prints the current keys first, then the legacy ones marked as legacy', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'local/cli.ts', 'env'], {
    cwd: repoRoot,
    env: { ...process.env, SUPABASE_JWT_SECRET: '' }, // empty means the default
  })
  const lines = stdout.trim().split('\n')
  expect(lines.slice(0, 3).map((l) => l.split('=')[0])).toEqual([
    'SUPABASE_URL',
    'SUPABASE_PUBLISHABLE_KEY',
    'SUPABASE_SECRET_KEY',
  ])
  expect(lines[1]).toBe(`SUPABASE_PUBLISHABLE_KEY=${LOCAL_PUBLISHABLE_KEY}`)
  const legacyAt = lines.findIndex((l) => /^#.*legacy/i.test(l))
  expect(legacyAt).toBeGreaterThan(2)
  expect(lines.slice(legacyAt + 1).map((l) => l.split('=')[0])).toEqual(
    expect.arrayContaining(['SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_JWT_SECRET']),
  )
})
