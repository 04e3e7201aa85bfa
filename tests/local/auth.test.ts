// The local Auth server (/auth/v1) as supabase-js sees it: sign-up, sign-in,
// refresh-token rotation, the user endpoints, logout, emailed links, admin API.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { signLegacyJwt } from '../../local/keys.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'

// Node 20 has no global WebSocket, which supabase-js's realtime client needs at construction.
// tests/support/stack.ts should pass `realtime: { transport: ws }`; until then:
;(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket

let stack: TestStack
const mail: string[] = []
const password = 'correct-horse-battery-staple'
let counter = 0
const uniqueEmail = (label: string) => `${label}-${process.pid}-${++counter}-${Date.now()}@example.test`

const clientOptions = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } }

/** The last link mailed (logged) to `email`. */
function lastLinkTo(email: string): { link: string; code: string } {
  const line = [...mail].reverse().find((l) => l.includes(`mail to ${email} `))
  if (!line) throw new Error(`no mail to ${email} in ${JSON.stringify(mail)}`)
  const match = /: (http\S+) \(code (\d{6})\)$/.exec(line)
  if (!match) throw new Error(`no link in ${line}`)
  return { link: match[1], code: match[2] }
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>
}

/** Follows a mailed link the way a browser would, stopping at the redirect. */
async function openLink(link: string): Promise<URL> {
  const response = await fetch(link, { redirect: 'manual' })
  expect(response.status).toBe(303)
  return new URL(response.headers.get('location')!)
}

async function authFetch(path: string, init: RequestInit & { token?: string; apikey?: string | null } = {}) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(init.headers as Record<string, string>),
  }
  if (init.apikey !== null) headers.apikey = init.apikey ?? stack.keys.anonKey
  if (init.token) headers.authorization = `Bearer ${init.token}`
  const response = await fetch(`${stack.url}/auth/v1${path}`, { ...init, headers })
  const text = await response.text()
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined }
}

beforeAll(async () => {
  stack = await startTestStack({ log: (line) => mail.push(line) })
})

afterAll(async () => {
  await stack?.close()
})

describe('sign up and sign in', () => {
  it('signs up two users, each with a session, metadata and GoTrue claims', async () => {
    const anon = stack.anonClient()
    const emailA = uniqueEmail('alice')
    const { data, error } = await anon.auth.signUp({
      email: emailA,
      password,
      options: { data: { full_name: 'Alice' } },
    })
    expect(error).toBeNull()
    expect(data.user?.email).toBe(emailA)
    expect(data.user?.user_metadata).toMatchObject({ full_name: 'Alice' })
    expect(data.user?.app_metadata).toEqual({ provider: 'email', providers: ['email'] })
    expect(data.user?.email_confirmed_at).toBeTruthy()
    expect(data.user?.identities?.[0]).toMatchObject({ provider: 'email', user_id: data.user?.id })
    expect(data.session?.token_type).toBe('bearer')
    expect(data.session?.expires_in).toBe(3600)

    const claims = claimsOf(data.session!.access_token)
    expect(claims).toMatchObject({
      sub: data.user!.id,
      aud: 'authenticated',
      role: 'authenticated',
      email: emailA,
      phone: '',
      iss: `${stack.url}/auth/v1`,
      aal: 'aal1',
      is_anonymous: false,
      user_metadata: { full_name: 'Alice' },
    })
    expect(claims.session_id).toMatch(/^[0-9a-f-]{36}$/)
    expect((claims.amr as Array<{ method: string }>)[0].method).toBe('password')
    expect(claims.exp).toBe(data.session!.expires_at)

    const bob = await stack.newUser('bob')
    expect(bob.userId).not.toBe(data.user!.id)
  })

  it('refuses a taken email, a weak password and an invalid email', async () => {
    const anon = stack.anonClient()
    const email = uniqueEmail('dup')
    expect((await anon.auth.signUp({ email, password })).error).toBeNull()

    const again = await anon.auth.signUp({ email, password })
    expect(again.error?.status).toBe(422)
    expect(again.error?.code).toBe('user_already_exists')
    expect(again.error?.message).toBe('User already registered')

    const weak = await anon.auth.signUp({ email: uniqueEmail('weak'), password: '123' })
    expect(weak.error?.name).toBe('AuthWeakPasswordError')
    expect(weak.error?.code).toBe('weak_password')
    expect(weak.error?.status).toBe(422)
    expect((weak.error as unknown as { reasons: string[] }).reasons).toEqual(['length'])

    const invalid = await anon.auth.signUp({ email: 'not-an-email', password })
    expect(invalid.error?.status).toBe(400)
    expect(invalid.error?.code).toBe('validation_failed')
  })

  it('signs in with the password and rejects a wrong one like GoTrue', async () => {
    const { email } = await stack.newUser('signin')
    const client = stack.anonClient()
    const ok = await client.auth.signInWithPassword({ email: email.toUpperCase(), password })
    expect(ok.error).toBeNull()
    expect(ok.data.user?.email).toBe(email)
    expect(ok.data.user?.last_sign_in_at).toBeTruthy()

    const wrong = await client.auth.signInWithPassword({ email, password: 'not-the-password' })
    expect(wrong.error?.name).toBe('AuthApiError')
    expect(wrong.error?.status).toBe(400)
    expect(wrong.error?.code).toBe('invalid_credentials')
    expect(wrong.error?.message).toBe('Invalid login credentials')
    expect(wrong.data.session).toBeNull()

    const nobody = await client.auth.signInWithPassword({ email: uniqueEmail('nobody'), password })
    expect(nobody.error?.code).toBe('invalid_credentials')
  })
})

describe('sessions', () => {
  it('rotates refresh tokens: the old one is only honoured within the reuse interval', async () => {
    const { client } = await stack.newUser('refresh')
    const first = (await client.auth.getSession()).data.session!
    const refreshed = await client.auth.refreshSession()
    expect(refreshed.error).toBeNull()
    const second = refreshed.data.session!
    expect(second.refresh_token).not.toBe(first.refresh_token)
    expect(claimsOf(second.access_token).session_id).toBe(claimsOf(first.access_token).session_id)

    // Within refresh_token_reuse_interval (10 s) a client racing itself gets the same child back.
    const racing = stack.anonClient()
    const raced = await racing.auth.refreshSession({ refresh_token: first.refresh_token })
    expect(raced.error).toBeNull()
    expect(raced.data.session?.refresh_token).toBe(second.refresh_token)

    // Later, presenting the old token is reuse: refused, and the whole session is revoked.
    await stack.db.asOwner((tx) =>
      tx.query(`update auth.refresh_tokens set updated_at = now() - interval '11 seconds' where token = $1`, [
        first.refresh_token,
      ]),
    )
    const reused = await stack.anonClient().auth.refreshSession({ refresh_token: first.refresh_token })
    expect(reused.error?.status).toBe(400)
    expect(reused.error?.code).toBe('refresh_token_already_used')
    expect(reused.error?.message).toBe('Invalid Refresh Token: Already Used')
    const victim = await stack.anonClient().auth.refreshSession({ refresh_token: second.refresh_token })
    expect(victim.error?.code).toBe('refresh_token_already_used')

    const unknown = await stack.anonClient().auth.refreshSession({ refresh_token: 'no-such-token' })
    expect(unknown.error?.code).toBe('refresh_token_not_found')
  })

  it('reads and updates the user: metadata merge, new password, email change by link', async () => {
    const { client, email, userId } = await stack.newUser('profile')
    const got = await client.auth.getUser()
    expect(got.error).toBeNull()
    expect(got.data.user?.id).toBe(userId)

    const meta = await client.auth.updateUser({ data: { full_name: 'Pat', plan: 'pro' } })
    expect(meta.error).toBeNull()
    const meta2 = await client.auth.updateUser({ data: { plan: null, team: 'ops' } })
    expect(meta2.data.user?.user_metadata).toEqual({ full_name: 'Pat', team: 'ops' })

    const same = await client.auth.updateUser({ password })
    expect(same.error?.code).toBe('same_password')
    const weak = await client.auth.updateUser({ password: '12' })
    expect(weak.error?.code).toBe('weak_password')
    const changed = await client.auth.updateUser({ password: 'a-brand-new-password' })
    expect(changed.error).toBeNull()
    const fresh = stack.anonClient()
    expect((await fresh.auth.signInWithPassword({ email, password })).error?.code).toBe('invalid_credentials')
    expect((await fresh.auth.signInWithPassword({ email, password: 'a-brand-new-password' })).error).toBeNull()

    const token = (await client.auth.getSession()).data.session!.access_token
    const appMeta = await authFetch('/user', {
      method: 'PUT',
      token,
      body: JSON.stringify({ app_metadata: { admin: true } }),
    })
    expect(appMeta.status).toBe(403)
    expect(appMeta.body?.error_code).toBe('not_admin')

    const newEmail = uniqueEmail('moved')
    const pending = await client.auth.updateUser({ email: newEmail })
    expect(pending.error).toBeNull()
    expect(pending.data.user?.email).toBe(email)
    expect(pending.data.user?.new_email).toBe(newEmail)
    const target = await openLink(lastLinkTo(newEmail).link)
    expect(new URLSearchParams(target.hash.slice(1)).get('type')).toBe('email_change')
    const after = await client.auth.getUser()
    expect(after.data.user?.email).toBe(newEmail)
    expect(after.data.user?.new_email).toBeUndefined()

    const other = await stack.newUser('taken')
    const clash = await client.auth.updateUser({ email: other.email })
    expect(clash.error?.code).toBe('email_exists')
  })

  it('signs out: the refresh token and the access token stop working', async () => {
    const { client } = await stack.newUser('logout')
    const session = (await client.auth.getSession()).data.session!
    expect((await client.auth.signOut()).error).toBeNull()

    const refresh = await stack.anonClient().auth.refreshSession({ refresh_token: session.refresh_token })
    expect(refresh.error?.code).toBe('refresh_token_not_found')

    const user = await stack.anonClient().auth.getUser(session.access_token)
    expect(user.data.user).toBeNull()
    expect(user.error?.name).toBe('AuthSessionMissingError')
    const raw = await authFetch('/user', { token: session.access_token })
    expect(raw.status).toBe(403)
    expect(raw.body?.error_code).toBe('session_not_found')
  })

  it('signs out locally or everywhere else as asked', async () => {
    const { email } = await stack.newUser('scopes')
    const phone = stack.anonClient()
    const laptop = stack.anonClient()
    await phone.auth.signInWithPassword({ email, password })
    await laptop.auth.signInWithPassword({ email, password })
    const laptopSession = (await laptop.auth.getSession()).data.session!

    expect((await phone.auth.signOut({ scope: 'others' })).error).toBeNull()
    const phoneSession = (await phone.auth.getSession()).data.session!
    expect((await phone.auth.getUser()).error).toBeNull()
    expect((await stack.anonClient().auth.getUser(laptopSession.access_token)).error?.name).toBe(
      'AuthSessionMissingError',
    )

    expect((await phone.auth.signOut({ scope: 'local' })).error).toBeNull()
    expect(
      (await stack.anonClient().auth.refreshSession({ refresh_token: phoneSession.refresh_token })).error?.code,
    ).toBe('refresh_token_not_found')
  })
})

describe('bad requests', () => {
  it('answers forged and expired JWTs on /user with 401 bad_jwt', async () => {
    const { client, userId } = await stack.newUser('jwt')
    const real = (await client.auth.getSession()).data.session!
    const claims = claimsOf(real.access_token)
    const forged = await signLegacyJwt(
      'not-the-secret-of-this-stack-at-least-32-chars',
      { ...claims, exp: undefined, iat: undefined },
      3600,
    )
    const expired = await signLegacyJwt(stack.keys.jwtSecret, { ...claims, exp: undefined, iat: undefined }, -60)

    for (const token of [forged, expired, 'not.a.jwt']) {
      const raw = await authFetch('/user', { token })
      expect(raw.status).toBe(401)
      expect(raw.body?.error_code).toBe('bad_jwt')
    }
    const viaClient = await stack.anonClient().auth.getUser(forged)
    expect(viaClient.error?.status).toBe(401)
    expect(viaClient.error?.code).toBe('bad_jwt')
    expect((await stack.anonClient().auth.getUser(real.access_token)).data.user?.id).toBe(userId)
  })

  it('needs an API key of this stack, rejects malformed JSON, and serves settings and health', async () => {
    expect((await authFetch('/settings', { apikey: null })).status).toBe(401)
    expect((await authFetch('/settings', { apikey: 'garbage' })).status).toBe(401)
    const settings = await authFetch('/settings')
    expect(settings.status).toBe(200)
    expect(settings.body).toMatchObject({ external: { email: true }, disable_signup: false, mailer_autoconfirm: true })
    expect((await authFetch('/health')).body).toMatchObject({ name: 'GoTrue' })

    const malformed = await authFetch('/signup', { method: 'POST', body: '{"email": ' })
    expect(malformed.status).toBe(400)
    expect(malformed.body?.error_code).toBe('bad_json')
    expect(String(malformed.body?.msg)).toMatch(/Could not parse request body as JSON/)

    // The 2024-01-01 shape that auth-js asks for.
    const versioned = await authFetch('/token?grant_type=password', {
      method: 'POST',
      body: JSON.stringify({ email: uniqueEmail('nobody'), password }),
      headers: { 'x-supabase-api-version': '2024-01-01' },
    })
    expect(versioned).toEqual({
      status: 400,
      body: { code: 'invalid_credentials', message: 'Invalid login credentials' },
    })
    expect((await authFetch('/nowhere')).status).toBe(404)
  })
})

describe('admin', () => {
  it('creates, lists, reads, updates and deletes users with the service role', async () => {
    const admin = stack.serviceClient().auth.admin
    const email = uniqueEmail('staff')
    const created = await admin.createUser({
      email,
      password,
      email_confirm: true,
      user_metadata: { full_name: 'Sam' },
      app_metadata: { tenant: 't1' },
    })
    expect(created.error).toBeNull()
    const id = created.data.user!.id
    expect(created.data.user?.app_metadata).toEqual({ provider: 'email', providers: ['email'], tenant: 't1' })
    expect(created.data.user?.email_confirmed_at).toBeTruthy()
    expect((await stack.anonClient().auth.signInWithPassword({ email, password })).error).toBeNull()

    const duplicate = await admin.createUser({ email, password })
    expect(duplicate.error?.status).toBe(422)
    expect(duplicate.error?.code).toBe('email_exists')

    const page = await admin.listUsers({ page: 1, perPage: 2 })
    if (page.error) throw page.error
    expect(page.data.users).toHaveLength(2)
    expect(page.data.users[0].id).toBe(id) // newest first
    expect(page.data.total).toBeGreaterThan(2)
    expect(page.data.nextPage).toBe(2)

    expect((await admin.getUserById(id)).data.user?.email).toBe(email)
    const updated = await admin.updateUserById(id, {
      user_metadata: { role_title: 'lead' },
      app_metadata: { tenant: 't2' },
    })
    expect(updated.data.user?.user_metadata).toEqual({ full_name: 'Sam', role_title: 'lead' })
    expect(updated.data.user?.app_metadata).toMatchObject({ tenant: 't2', provider: 'email' })

    expect((await admin.deleteUser(id)).error).toBeNull()
    const gone = await admin.getUserById(id)
    expect(gone.error?.status).toBe(404)
    expect(gone.error?.code).toBe('user_not_found')
    expect((await stack.anonClient().auth.signInWithPassword({ email, password })).error?.code).toBe(
      'invalid_credentials',
    )
  })

  it('refuses the admin API to the anon key and to a user', async () => {
    const anonAdmin = stack.anonClient().auth.admin
    const list = await anonAdmin.listUsers()
    expect(list.error?.status).toBe(403)
    expect(list.error?.code).toBe('not_admin')

    const { client } = await stack.newUser('sneaky')
    const token = (await client.auth.getSession()).data.session!.access_token
    const asUser = createClient(stack.url, stack.keys.anonKey, {
      ...clientOptions,
      global: { headers: { Authorization: `Bearer ${token}` } },
    })
    const create = await asUser.auth.admin.createUser({ email: uniqueEmail('x'), password })
    expect(create.error?.status).toBe(403)
    expect(create.error?.code).toBe('not_admin')
    const invite = await asUser.auth.admin.inviteUserByEmail(uniqueEmail('x'))
    expect(invite.error?.code).toBe('not_admin')
  })
})

describe('emailed links', () => {
  it('invites a user: the logged link signs them in, then they choose a password', async () => {
    const email = uniqueEmail('invitee')
    const invited = await stack.serviceClient().auth.admin.inviteUserByEmail(email, {
      data: { invited_by: 'owner' },
      redirectTo: 'http://127.0.0.1:5173/welcome',
    })
    expect(invited.error).toBeNull()
    expect(invited.data.user?.invited_at).toBeTruthy()
    expect(invited.data.user?.email_confirmed_at).toBeUndefined()

    const { link } = lastLinkTo(email)
    expect(link).toContain(`${stack.url}/auth/v1/verify?`)
    expect(link).toContain('type=invite')
    const target = await openLink(link)
    expect(target.origin + target.pathname).toBe('http://127.0.0.1:5173/welcome')
    const fragment = new URLSearchParams(target.hash.slice(1))
    expect(fragment.get('type')).toBe('invite')

    const client = stack.anonClient()
    const session = await client.auth.setSession({
      access_token: fragment.get('access_token')!,
      refresh_token: fragment.get('refresh_token')!,
    })
    expect(session.error).toBeNull()
    expect(session.data.user?.email_confirmed_at).toBeTruthy()
    expect(session.data.user?.user_metadata).toMatchObject({ invited_by: 'owner' })
    expect((await client.auth.updateUser({ password: 'my-own-password' })).error).toBeNull()
    expect((await stack.anonClient().auth.signInWithPassword({ email, password: 'my-own-password' })).error).toBeNull()

    // A link works once.
    const reused = await openLink(link)
    expect(new URLSearchParams(reused.hash.slice(1)).get('error_code')).toBe('otp_expired')
  })

  it('resets a password: the recovery link, then updateUser with the new one', async () => {
    const { email } = await stack.newUser('forgetful')
    const anon = stack.anonClient()
    const asked = await anon.auth.resetPasswordForEmail(email, { redirectTo: 'http://127.0.0.1:5173/reset' })
    expect(asked.error).toBeNull()
    expect(asked.data).toEqual({})
    // An unknown address gets the same answer and no mail.
    const stranger = uniqueEmail('stranger')
    expect((await anon.auth.resetPasswordForEmail(stranger)).error).toBeNull()
    expect(mail.some((l) => l.includes(stranger))).toBe(false)

    const target = await openLink(lastLinkTo(email).link)
    const fragment = new URLSearchParams(target.hash.slice(1))
    expect(target.pathname).toBe('/reset')
    expect(fragment.get('type')).toBe('recovery')

    const client = stack.anonClient()
    await client.auth.setSession({
      access_token: fragment.get('access_token')!,
      refresh_token: fragment.get('refresh_token')!,
    })
    expect((await client.auth.updateUser({ password: 'remembered-now' })).error).toBeNull()
    expect((await stack.anonClient().auth.signInWithPassword({ email, password: 'remembered-now' })).error).toBeNull()

    // The six-digit code from the same kind of mail works with verifyOtp.
    await anon.auth.resetPasswordForEmail(email)
    const { code } = lastLinkTo(email)
    const wrong = await anon.auth.verifyOtp({ email, token: '000000' === code ? '111111' : '000000', type: 'recovery' })
    expect(wrong.error?.status).toBe(403)
    expect(wrong.error?.code).toBe('otp_expired')
    const verified = await anon.auth.verifyOtp({ email, token: code, type: 'recovery' })
    expect(verified.error).toBeNull()
    expect(verified.data.session?.user.email).toBe(email)
  })

  it('resets a password with PKCE, as @supabase/ssr clients do', async () => {
    const { email } = await stack.newUser('pkce')
    const client = createClient(stack.url, stack.keys.anonKey, { auth: { ...clientOptions.auth, flowType: 'pkce' } })
    expect(
      (await client.auth.resetPasswordForEmail(email, { redirectTo: 'http://127.0.0.1:5173/reset' })).error,
    ).toBeNull()
    const target = await openLink(lastLinkTo(email).link)
    const code = target.searchParams.get('code')
    expect(code).toBeTruthy()
    const exchanged = await client.auth.exchangeCodeForSession(code!)
    expect(exchanged.error).toBeNull()
    expect(exchanged.data.user?.email).toBe(email)
    expect((await client.auth.updateUser({ password: 'pkce-new-password' })).error).toBeNull()
  })

  it('generates links for the admin without sending them', async () => {
    const { email } = await stack.newUser('linked')
    const before = mail.length
    const { data, error } = await stack.serviceClient().auth.admin.generateLink({ type: 'recovery', email })
    expect(error).toBeNull()
    expect(data.properties?.verification_type).toBe('recovery')
    expect(data.properties?.email_otp).toMatch(/^\d{6}$/)
    expect(data.properties?.action_link).toContain('/auth/v1/verify?token=')
    expect(data.user?.email).toBe(email)
    expect(mail.slice(before).some((l) => l.includes(`mail to ${email}`))).toBe(false)
    const target = await openLink(data.properties!.action_link)
    expect(new URLSearchParams(target.hash.slice(1)).get('access_token')).toBeTruthy()

    const missing = await stack
      .serviceClient()
      .auth.admin.generateLink({ type: 'recovery', email: uniqueEmail('ghost') })
    expect(missing.error?.status).toBe(404)
  })
})

describe('persistence', () => {
  it('keeps users, sessions and the session signing key across a restart of a file-backed stack', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'konstruct-auth-'))
    const signingKeysFile = join(mkdtempSync(join(tmpdir(), 'konstruct-auth-keys-')), 'signing_keys.json')
    try {
      const first = await startTestStack({ dataDir, signingKeysFile })
      const { email, client } = await first.newUser('durable')
      const session = (await client.auth.getSession()).data.session!
      await first.close()

      const second = await startTestStack({ dataDir, signingKeysFile })
      try {
        // The access token issued before the restart still verifies: same signing key.
        const asBefore = createClient(second.url, second.keys.publishableKey, {
          ...clientOptions,
          global: { headers: { Authorization: `Bearer ${session.access_token}` } },
        })
        expect((await asBefore.auth.getUser(session.access_token)).error).toBeNull()
        expect((await second.anonClient().auth.signInWithPassword({ email, password })).error).toBeNull()
        expect(
          (await second.anonClient().auth.refreshSession({ refresh_token: session.refresh_token })).error,
        ).toBeNull()
      } finally {
        await second.close()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(dirname(signingKeysFile), { recursive: true, force: true })
    }
  }, 240_000)
})
