// Who is calling a function, checked by the function itself (Supabase's "Securing Edge
// Functions": verify_jwt cannot check sessions signed with asymmetric keys):
// - a user: `Authorization: Bearer <access token>`, verified against the project's JWKS
//   (SUPABASE_JWKS, else the Auth server's /auth/v1/.well-known/jwks.json), ES256/RS256
//   only, never an algorithm taken from the token and never the legacy shared secret;
// - a server: one of the project's secret keys, compared in constant time.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { constantTimeEqual } from '../runtime/constant-time.ts'
import type { Project } from './project.ts'

export interface UserClaims extends JWTPayload {
  sub: string
  role: string
  email?: string
  is_anonymous?: boolean
  session_id?: string
}

export type UserCheck = (token: string | null) => Promise<UserClaims | null>

/** A verifier of user access tokens for this project; null means "not a signed-in user". */
export function userVerifier(project: Project): UserCheck {
  const keys = project.jwks
    ? createLocalJWKSet(project.jwks as Parameters<typeof createLocalJWKSet>[0])
    : createRemoteJWKSet(new URL(`${project.url}/auth/v1/.well-known/jwks.json`))
  return async (token) => {
    if (!token || token.split('.').length !== 3) return null
    try {
      const { payload } = await jwtVerify(token, keys, { algorithms: ['ES256', 'RS256', 'EdDSA'] })
      if (typeof payload.sub !== 'string' || payload.role !== 'authenticated') return null
      return payload as UserClaims
    } catch {
      return null
    }
  }
}

/** Whether the token is one of the project's secret keys (a server caller). */
export function isSecretKey(project: Project, token: string | null): boolean {
  if (!token) return false
  // Every key is compared, so the time does not say which one (or whether any) matched.
  return project.secretKeys.reduce((found, key) => constantTimeEqual(token, key) || found, false)
}

/** The bearer token of a request, or null. */
export function bearerOf(req: Request): string | null {
  return bearerIn(req.headers.get('authorization'))
}

/** The token of a `Bearer <token>` header value, or null. */
export function bearerIn(header: string | null): string | null {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? null
}
