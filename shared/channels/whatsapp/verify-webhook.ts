// The two checks that keep forged traffic out of the WhatsApp webhook.
// GET: Meta's subscription handshake echoes hub.challenge only when hub.verify_token is
// ours. POST: X-Hub-Signature-256 is "sha256=" + hex HMAC-SHA256 of the raw body under the
// app secret; it must be checked on the bytes as received, before any JSON parsing.
import { constantTimeEqual } from '../../runtime/constant-time.ts'
import { fromHex, verifyHmacSha256, type RawBody } from '../signing.ts'

export type WhatsAppHandshake =
  | { ok: true; challenge: string }
  | { ok: false; reason: 'not_subscribe' | 'missing_challenge' | 'token_mismatch' | 'missing_secret' }

/** Answers Meta's GET verification request; the caller returns `challenge` as text/plain 200, else 403. */
export function answerWhatsAppHandshake(input: { query: URLSearchParams; verifyToken: string }): WhatsAppHandshake {
  const { query, verifyToken } = input
  if (!verifyToken) return { ok: false, reason: 'missing_secret' }
  if (query.get('hub.mode') !== 'subscribe') return { ok: false, reason: 'not_subscribe' }
  const challenge = query.get('hub.challenge')
  if (!challenge) return { ok: false, reason: 'missing_challenge' }
  if (!constantTimeEqual(query.get('hub.verify_token') ?? '', verifyToken))
    return { ok: false, reason: 'token_mismatch' }
  return { ok: true, challenge }
}

export type WhatsAppSignatureVerification =
  | { ok: true }
  | { ok: false; reason: 'missing_secret' | 'missing_signature' | 'malformed_signature' | 'signature_mismatch' }

export async function verifyWhatsAppSignature(input: {
  appSecret: string
  body: RawBody
  /** The X-Hub-Signature-256 header. */
  header: string | null | undefined
}): Promise<WhatsAppSignatureVerification> {
  const { appSecret, body, header } = input
  // 1. Without the app secret nothing can be verified; never fall back to "allow".
  if (!appSecret) return { ok: false, reason: 'missing_secret' }
  // 2. The header must be present.
  if (!header) return { ok: false, reason: 'missing_signature' }
  // 3. "sha256=" followed by 64 hex digits (the older SHA-1 X-Hub-Signature is not accepted).
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim())
  const expected = match ? fromHex(match[1]!) : null
  if (!expected) return { ok: false, reason: 'malformed_signature' }
  // 4. HMAC-SHA256 over the raw bytes, compared in constant time.
  return (await verifyHmacSha256(appSecret, body, expected))
    ? { ok: true }
    : { ok: false, reason: 'signature_mismatch' }
}
