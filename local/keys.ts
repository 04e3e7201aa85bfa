// The keys of the local stack, as the Supabase CLI's local stack has them:
// - the API keys: a publishable key (sb_publishable_…, role anon) and a secret key
//   (sb_secret_…, role service_role), the CLI's fixed development values;
// - user sessions signed with an asymmetric key (ES256, with a `kid`) whose public
//   part is the JWKS served at /auth/v1/.well-known/jwks.json. A file-backed stack
//   keeps its key in a file (the CLI's `signing_keys_path` format: a JSON array of
//   private JWKs), so sessions survive a restart;
// - the legacy keys: one HS256 secret and the anon and service_role JWTs derived
//   from it, still accepted everywhere, as on Supabase until they are retired.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  SignJWT,
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose'
import type { Claims } from './db.ts'

/** The well-known development secret of the Supabase CLI's local stack (legacy HS256). */
export const DEFAULT_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long'
/** The Supabase CLI's fixed local API keys: public by design, development only. */
export const LOCAL_PUBLISHABLE_KEY = 'sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH'
export const LOCAL_SECRET_KEY = 'sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz'

export interface StackKeys {
  /** sb_publishable_…: browsers and the portal; the request runs as `anon` (or the user of its session). */
  publishableKey: string
  /** sb_secret_…: server code only; the request runs as `service_role`. */
  secretKey: string
  /** Public keys that verify user sessions (what /auth/v1/.well-known/jwks.json serves). */
  jwks: JSONWebKeySet
  /** Signs user sessions: ES256 with this key id. */
  signing: { kid: string; privateKey: CryptoKey }
  /** Legacy: the symmetric JWT secret, and the anon/service_role JWTs signed with it. */
  jwtSecret: string
  anonKey: string
  serviceRoleKey: string
}

export interface KeyOptions {
  jwtSecret?: string
  /** Where a file-backed stack keeps its signing key; omitted means a fresh key in memory. */
  signingKeysFile?: string
}

const encoder = new TextEncoder()
const tenYears = 10 * 365 * 24 * 3600

export async function loadKeys(options: KeyOptions = {}): Promise<StackKeys> {
  const jwtSecret = options.jwtSecret ?? DEFAULT_JWT_SECRET
  const privateJwk = await signingJwk(options.signingKeysFile)
  // key_ops (["sign", "verify"] in the CLI's file) is not what WebCrypto accepts for one half.
  const { key_ops: _ops, ...signingJwkOnly } = privateJwk
  const { d: _private, ...publicJwk } = signingJwkOnly
  const privateKey = (await importJWK(signingJwkOnly, 'ES256')) as CryptoKey
  const legacy = (role: string) =>
    // Fixed iat so the legacy keys are the same on every start with the same secret.
    new SignJWT({ iss: 'supabase-demo', role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(1_700_000_000)
      .setExpirationTime(1_700_000_000 + tenYears * 2)
      .sign(encoder.encode(jwtSecret))
  return {
    publishableKey: LOCAL_PUBLISHABLE_KEY,
    secretKey: LOCAL_SECRET_KEY,
    jwks: { keys: [{ ...publicJwk, key_ops: ['verify'] }] },
    signing: { kid: privateJwk.kid!, privateKey },
    jwtSecret,
    anonKey: await legacy('anon'),
    serviceRoleKey: await legacy('service_role'),
  }
}

/** The private signing JWK: read from the file, or generated (and written there when a file is given). */
async function signingJwk(file: string | undefined): Promise<JWK> {
  if (file && existsSync(file)) {
    const keys = JSON.parse(readFileSync(file, 'utf8')) as JWK[]
    const key = Array.isArray(keys) ? keys.find((k) => k.alg === 'ES256' && k.d && k.kid) : undefined
    if (!key) throw new Error(`${file} holds no ES256 private key with a kid`)
    return key
  }
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: crypto.randomUUID(), alg: 'ES256', use: 'sig' }
  if (file) {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify([{ ...jwk, key_ops: ['sign', 'verify'] }], null, 2), { mode: 0o600 })
  }
  return jwk
}

/** A user session's access token: ES256, `kid` in the header, as Supabase Auth signs them. */
export async function signSession(
  keys: StackKeys,
  claims: Record<string, unknown>,
  expiresInSeconds: number,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: keys.signing.kid })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(keys.signing.privateKey)
}

/** Signs with the legacy secret (tests that need a legacy-shaped or custom-claims token). */
export async function signLegacyJwt(
  secret: string,
  claims: Record<string, unknown>,
  expiresInSeconds: number,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(encoder.encode(secret))
}

export type JwtCheck = { ok: true; claims: Claims } | { ok: false; reason: 'expired' | 'invalid' }

const jwksVerifiers = new WeakMap<StackKeys, ReturnType<typeof createLocalJWKSet>>()

/**
 * Verifies a JWT the way Supabase's services do once signing keys are on: an
 * asymmetric token against the JWKS (by its `kid`), a legacy HS256 token against
 * the JWT secret. The algorithm is never taken on trust: each key accepts only its own.
 */
export async function verifyJwt(keys: StackKeys, token: string): Promise<JwtCheck> {
  try {
    const { alg } = decodeProtectedHeader(token)
    let payload: Record<string, unknown>
    if (alg === 'HS256') {
      ;({ payload } = await jwtVerify(token, encoder.encode(keys.jwtSecret), { algorithms: ['HS256'] }))
    } else {
      let jwks = jwksVerifiers.get(keys)
      if (!jwks) jwksVerifiers.set(keys, (jwks = createLocalJWKSet(keys.jwks)))
      ;({ payload } = await jwtVerify(token, jwks, { algorithms: ['ES256'] }))
    }
    if (typeof payload.role !== 'string') return { ok: false, reason: 'invalid' }
    return { ok: true, claims: payload as Claims }
  } catch (error) {
    return { ok: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' }
  }
}

/** The API key's role: the new opaque keys by value, the legacy ones as verified JWTs. */
export function apiKeyRole(keys: StackKeys, apikey: string): 'anon' | 'service_role' | undefined {
  if (apikey === keys.publishableKey) return 'anon'
  if (apikey === keys.secretKey) return 'service_role'
  if (apikey === keys.anonKey) return 'anon'
  if (apikey === keys.serviceRoleKey) return 'service_role'
  return undefined
}

/** Whether a string is one of the opaque API keys (sb_…), which are never JWTs. */
export function isOpaqueApiKey(value: string): boolean {
  return value.startsWith('sb_publishable_') || value.startsWith('sb_secret_')
}

/**
 * The claims a request runs with, as Supabase's gateway decides them: a bearer that is
 * a user's (or legacy) JWT is verified; an opaque key in its place (supabase-js sends the
 * key as the bearer when there is no session) stands for the key's own role, the way the
 * gateway swaps it for a short-lived JWT of that role.
 */
export function claimsForKey(keys: StackKeys, apikey: string): Claims | undefined {
  const role = isOpaqueApiKey(apikey) ? apiKeyRole(keys, apikey) : undefined
  return role ? { role, iss: 'supabase', exp: Math.floor(Date.now() / 1000) + 3600 } : undefined
}
