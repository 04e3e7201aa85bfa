// Verifies that a request really comes from Slack (v0 signing secret scheme), in the
// manner of bolt-js verify-request: the clock is a parameter, the rules are numbered,
// and the HMAC is checked over the raw body bytes in constant time. It never throws for
// bad input; the caller turns any failure into an opaque 401 and stores nothing.
import { concatBytes, fromHex, verifyHmacSha256, type RawBody } from '../signing.ts'

/** Slack rejects nothing older than this itself; we refuse replays outside it. */
export const SLACK_SIGNATURE_MAX_AGE_SECONDS = 5 * 60

export type SlackVerificationFailure =
  | 'missing_secret'
  | 'missing_signature'
  | 'missing_timestamp'
  | 'invalid_timestamp'
  | 'stale_timestamp'
  | 'unsupported_version'
  | 'malformed_signature'
  | 'signature_mismatch'

export type SlackVerification = { ok: true } | { ok: false; reason: SlackVerificationFailure }

export interface SlackRequestToVerify {
  signingSecret: string
  /** The raw body exactly as received (read once with `await req.text()` or bytes). */
  body: RawBody
  /** X-Slack-Request-Timestamp header. */
  timestamp: string | null | undefined
  /** X-Slack-Signature header. */
  signature: string | null | undefined
  now: Date
}

export async function verifySlackRequest(request: SlackRequestToVerify): Promise<SlackVerification> {
  const { signingSecret, body, timestamp, signature, now } = request
  const fail = (reason: SlackVerificationFailure): SlackVerification => ({ ok: false, reason })

  // 1. Without a configured secret nothing can be verified; never fall back to "allow".
  if (!signingSecret) return fail('missing_secret')

  // 2. Both headers must be present.
  if (!signature) return fail('missing_signature')
  if (!timestamp) return fail('missing_timestamp')

  // 3. The timestamp must be whole seconds since the epoch.
  if (!/^\d{1,12}$/.test(timestamp)) return fail('invalid_timestamp')
  const requestSeconds = Number(timestamp)

  // 4. The request must be recent, in either direction, so a captured request cannot be
  //    replayed later (bolt-js checks only the past; a future stamp is just as suspect).
  const nowSeconds = Math.floor(now.getTime() / 1000)
  if (Math.abs(nowSeconds - requestSeconds) > SLACK_SIGNATURE_MAX_AGE_SECONDS) return fail('stale_timestamp')

  // 5. Only the v0 scheme exists; the signature is "v0=" followed by 64 hex digits.
  const [version, hex, ...rest] = signature.split('=')
  if (version !== 'v0' || rest.length > 0) return fail('unsupported_version')
  const expected = fromHex(hex ?? '')
  if (!expected || expected.length !== 32) return fail('malformed_signature')

  // 6. HMAC-SHA256 of "v0:<timestamp>:<raw body>" compared in constant time.
  const basestring = concatBytes(`v0:${timestamp}:`, body)
  const valid = await verifyHmacSha256(signingSecret, basestring, expected)
  return valid ? { ok: true } : fail('signature_mismatch')
}
