// "Add to Slack": the OAuth v2 authorize URL and the state that ties a callback to the
// tenant and the admin who started the install. Slack's callback reaches the edge function
// without the portal's session, so the state itself must say who asked, and must be
// unforgeable (HMAC) and short-lived. Single use is enforced by recording the nonce in the
// database when the callback is accepted.
import { base64UrlDecode, base64UrlEncode, hmacSha256, randomToken, verifyHmacSha256 } from '../signing.ts'
import { isRecord, numberField, parseJson, stringField } from '../payload-fields.ts'

export const DEFAULT_SLACK_AUTHORIZE_URL = 'https://slack.com/oauth/v2/authorize'

/** The bot scopes Konstruct needs; keep in step with slack/manifest.json. */
export const SLACK_BOT_SCOPES = [
  'app_mentions:read',
  'assistant:write',
  'channels:history',
  'chat:write',
  // Downloading a shared file's url_private (the inbox shows customers' files).
  'files:read',
  'groups:history',
  'im:history',
  'im:read',
  'im:write',
  'users:read',
] as const

export interface SlackInstallUrlInput {
  clientId: string
  redirectUri: string
  state: string
  scopes?: readonly string[]
  userScopes?: readonly string[]
  /** Pre-selects a workspace when re-installing. */
  teamId?: string
  authorizeUrl?: string
}

export function buildSlackInstallUrl(input: SlackInstallUrlInput): string {
  const url = new URL(input.authorizeUrl ?? DEFAULT_SLACK_AUTHORIZE_URL)
  url.searchParams.set('client_id', input.clientId)
  url.searchParams.set('scope', (input.scopes ?? SLACK_BOT_SCOPES).join(','))
  if (input.userScopes?.length) url.searchParams.set('user_scope', input.userScopes.join(','))
  url.searchParams.set('redirect_uri', input.redirectUri)
  url.searchParams.set('state', input.state)
  if (input.teamId) url.searchParams.set('team', input.teamId)
  return url.toString()
}

// Distinguishes this token from any other HMAC token signed with the same secret.
const STATE_PURPOSE = 'slack_install'

export interface OAuthStateClaims {
  tenantId: string
  userId: string
  /** Random; the database records it to make the state single use. */
  nonce: string
  /**
   * SHA-256 (hex) of a secret kept in the starting browser's cookie: only that browser,
   * signed in as userId, can finish the install.
   */
  browserHash: string
  expiresAt: Date
}

export interface SignOAuthStateInput {
  secret: string
  tenantId: string
  userId: string
  browserHash: string
  now: Date
  ttlSeconds?: number
  nonce?: string
}

export async function signOAuthState(input: SignOAuthStateInput): Promise<{ state: string } & OAuthStateClaims> {
  if (!input.secret) throw new Error('OAuth state secret is not set')
  const nonce = input.nonce ?? randomToken(16)
  const exp = Math.floor(input.now.getTime() / 1000) + (input.ttlSeconds ?? 600)
  const payload = base64UrlEncode(
    JSON.stringify({ p: STATE_PURPOSE, t: input.tenantId, u: input.userId, n: nonce, b: input.browserHash, exp }),
  )
  const signature = base64UrlEncode(await hmacSha256(input.secret, payload))
  return {
    state: `${payload}.${signature}`,
    tenantId: input.tenantId,
    userId: input.userId,
    nonce,
    browserHash: input.browserHash,
    expiresAt: new Date(exp * 1000),
  }
}

export type OAuthStateVerification =
  | ({ ok: true } & OAuthStateClaims)
  | { ok: false; reason: 'missing' | 'malformed' | 'bad_signature' | 'expired' | 'wrong_user' }

export interface VerifyOAuthStateInput {
  secret: string
  state: string | null | undefined
  now: Date
  /** When the caller knows who is signed in, the state must be theirs. */
  expectedUserId?: string
}

export async function verifyOAuthState(input: VerifyOAuthStateInput): Promise<OAuthStateVerification> {
  if (!input.state) return { ok: false, reason: 'missing' }
  if (!input.secret) return { ok: false, reason: 'bad_signature' }
  const [payload, signature, ...rest] = input.state.split('.')
  const signatureBytes = base64UrlDecode(signature ?? '')
  if (!payload || !signatureBytes || signatureBytes.length === 0 || rest.length > 0)
    return { ok: false, reason: 'malformed' }
  // Signature before content: nothing unauthenticated is interpreted.
  if (!(await verifyHmacSha256(input.secret, payload, signatureBytes))) return { ok: false, reason: 'bad_signature' }

  const bytes = base64UrlDecode(payload)
  const json = bytes ? parseJson(new TextDecoder().decode(bytes)) : { ok: false as const }
  if (!json.ok || !isRecord(json.value)) return { ok: false, reason: 'malformed' }
  const claims = json.value
  const tenantId = stringField(claims, 't')
  const userId = stringField(claims, 'u')
  const nonce = stringField(claims, 'n')
  const browserHash = stringField(claims, 'b')
  const exp = numberField(claims, 'exp')
  if (
    stringField(claims, 'p') !== STATE_PURPOSE ||
    !tenantId ||
    !userId ||
    !nonce ||
    !browserHash ||
    exp === undefined
  ) {
    return { ok: false, reason: 'malformed' }
  }
  if (Math.floor(input.now.getTime() / 1000) >= exp) return { ok: false, reason: 'expired' }
  if (input.expectedUserId !== undefined && input.expectedUserId !== userId) return { ok: false, reason: 'wrong_user' }
  return { ok: true, tenantId, userId, nonce, browserHash, expiresAt: new Date(exp * 1000) }
}

/** The hash a state carries for the browser secret (SHA-256, lowercase hex). */
export async function browserSecretHash(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret)))
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')
}
