// The web chat visitor token: an HS256 JWT the web-chat function mints for a visitor of
// one widget. It names the connection (widget key), the visitor and the only Realtime topic
// the visitor may read, and expires. The browser keeps it so a reload resumes the same
// conversation. Verification accepts HS256 only: no "none", no algorithm from the token.
import { base64UrlDecode, base64UrlEncode, hmacSha256, verifyHmacSha256 } from '../signing.ts'
import { isRecord, numberField, parseJson, stringField } from '../payload-fields.ts'

export const VISITOR_TOKEN_AUDIENCE = 'konstruct-webchat'

export interface VisitorClaims {
  /** The widget's public key (the web chat connection it was issued for). */
  widgetKey: string
  connectionId: string
  visitorId: string
  /** The Realtime topic this visitor's replies are broadcast on. */
  topic: string
  issuedAt: Date
  expiresAt: Date
}

export interface MintVisitorTokenInput {
  secret: string
  widgetKey: string
  connectionId: string
  visitorId: string
  topic: string
  now: Date
  /** A week by default: long enough to survive reloads and come back tomorrow. */
  ttlSeconds?: number
  /**
   * Database role claim, when the token is also presented to Realtime/PostgREST
   * (then `secret` must be the project's JWT secret). Omitted otherwise.
   */
  role?: string
}

export async function mintVisitorToken(input: MintVisitorTokenInput): Promise<string> {
  if (!input.secret) throw new Error('visitor token secret is not set')
  const iat = Math.floor(input.now.getTime() / 1000)
  const claims: Record<string, unknown> = {
    aud: VISITOR_TOKEN_AUDIENCE,
    sub: input.visitorId,
    wk: input.widgetKey,
    cid: input.connectionId,
    topic: input.topic,
    iat,
    exp: iat + (input.ttlSeconds ?? 7 * 24 * 3600),
  }
  if (input.role) claims['role'] = input.role
  const signingInput = `${base64UrlEncode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64UrlEncode(JSON.stringify(claims))}`
  return `${signingInput}.${base64UrlEncode(await hmacSha256(input.secret, signingInput))}`
}

export type VisitorTokenVerification =
  | ({ ok: true } & VisitorClaims)
  | {
      ok: false
      reason:
        | 'missing'
        | 'malformed'
        | 'unsupported_algorithm'
        | 'bad_signature'
        | 'expired'
        | 'wrong_audience'
        | 'wrong_widget'
    }

export interface VerifyVisitorTokenInput {
  secret: string
  token: string | null | undefined
  now: Date
  /** The widget key of the request; a token minted for another widget is refused. */
  widgetKey?: string
  /** Tolerated clock difference between functions, in seconds. */
  leewaySeconds?: number
}

export async function verifyVisitorToken(input: VerifyVisitorTokenInput): Promise<VisitorTokenVerification> {
  const fail = (reason: Exclude<VisitorTokenVerification, { ok: true }>['reason']) => ({ ok: false, reason }) as const
  if (!input.token) return fail('missing')
  if (!input.secret) return fail('bad_signature')
  const parts = input.token.split('.')
  if (parts.length !== 3) return fail('malformed')
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]

  const header = decodeJson(headerPart)
  if (!header) return fail('malformed')
  // 1. The algorithm is fixed by us, never taken from the token.
  if (header['alg'] !== 'HS256') return fail('unsupported_algorithm')
  // 2. Signature before claims: nothing unauthenticated is trusted.
  const signature = base64UrlDecode(signaturePart)
  if (!signature || signature.length === 0) return fail('malformed')
  if (!(await verifyHmacSha256(input.secret, `${headerPart}.${payloadPart}`, signature))) return fail('bad_signature')

  const claims = decodeJson(payloadPart)
  if (!claims) return fail('malformed')
  const visitorId = stringField(claims, 'sub')
  const widgetKey = stringField(claims, 'wk')
  const connectionId = stringField(claims, 'cid')
  const topic = stringField(claims, 'topic')
  const iat = numberField(claims, 'iat')
  const exp = numberField(claims, 'exp')
  if (!visitorId || !widgetKey || !connectionId || !topic || iat === undefined || exp === undefined)
    return fail('malformed')
  // 3. Audience, expiry (with a little leeway), and the widget it was issued for.
  if (claims['aud'] !== VISITOR_TOKEN_AUDIENCE) return fail('wrong_audience')
  if (Math.floor(input.now.getTime() / 1000) >= exp + (input.leewaySeconds ?? 30)) return fail('expired')
  if (input.widgetKey !== undefined && input.widgetKey !== widgetKey) return fail('wrong_widget')
  return {
    ok: true,
    widgetKey,
    connectionId,
    visitorId,
    topic,
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
  }
}

function decodeJson(part: string): Record<string, unknown> | null {
  const bytes = base64UrlDecode(part)
  if (!bytes) return null
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return null
  }
  const json = parseJson(text)
  return json.ok && isRecord(json.value) ? json.value : null
}
