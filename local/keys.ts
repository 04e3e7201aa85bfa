// JWT keys of the local stack: one HS256 secret, and the anon and service_role
// API keys derived from it, shaped like the keys `supabase start` prints.
import { SignJWT, jwtVerify, errors } from 'jose'
import type { Claims } from './db.ts'

/** The well-known development secret of the Supabase CLI's local stack. */
export const DEFAULT_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long'

export interface StackKeys {
  jwtSecret: string
  anonKey: string
  serviceRoleKey: string
}

const encoder = new TextEncoder()
const tenYears = 10 * 365 * 24 * 3600

export async function signJwt(
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

export async function deriveKeys(jwtSecret = DEFAULT_JWT_SECRET): Promise<StackKeys> {
  // Fixed iat so the keys are the same on every start with the same secret.
  const sign = (role: string) =>
    new SignJWT({ iss: 'supabase-demo', role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(1_700_000_000)
      .setExpirationTime(1_700_000_000 + tenYears * 2)
      .sign(encoder.encode(jwtSecret))
  return { jwtSecret, anonKey: await sign('anon'), serviceRoleKey: await sign('service_role') }
}

export type JwtCheck = { ok: true; claims: Claims } | { ok: false; reason: 'expired' | 'invalid' }

/** Verifies an HS256 JWT signed with the stack's secret. */
export async function verifyJwt(secret: string, token: string): Promise<JwtCheck> {
  try {
    const { payload } = await jwtVerify(token, encoder.encode(secret), { algorithms: ['HS256'] })
    if (typeof payload.role !== 'string') return { ok: false, reason: 'invalid' }
    return { ok: true, claims: payload as Claims }
  } catch (error) {
    return { ok: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' }
  }
}
