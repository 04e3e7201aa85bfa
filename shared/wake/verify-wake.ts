// Verifies a wake-up the database sent through pg_net (app.wake_function). pg_net's
// queue is readable by every database role, so a wake-up carries no key, only
//   x-konstruct-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
// signed with the worker secret the database keeps in Vault and the function has as
// KONSTRUCT_WORKER_SECRET. Like verify-request.ts: the clock is a parameter, the rules
// are numbered, the HMAC covers the raw bytes and is compared in constant time, and it
// never throws; the caller answers any failure with an opaque 401.
import { concatBytes, fromHex, hmacSha256, verifyHmacSha256, type RawBody } from '../channels/signing.ts'

export const WAKE_SIGNATURE_HEADER = 'x-konstruct-signature'
/** A captured wake-up replays only within this window (it can do no more than wake the worker). */
export const WAKE_SIGNATURE_MAX_AGE_SECONDS = 5 * 60

export type WakeVerificationFailure =
  'missing_secret' | 'missing_signature' | 'malformed_signature' | 'stale_timestamp' | 'signature_mismatch'

export type WakeVerification = { ok: true } | { ok: false; reason: WakeVerificationFailure }

export async function verifyWake(
  secret: string | null | undefined,
  body: RawBody,
  header: string | null | undefined,
  now: Date,
): Promise<WakeVerification> {
  const fail = (reason: WakeVerificationFailure): WakeVerification => ({ ok: false, reason })

  // 1. Without a configured secret nothing can be verified; never fall back to "allow".
  if (!secret) return fail('missing_secret')
  if (!header) return fail('missing_signature')

  // 2. Exactly "t=<digits>,v1=<64 hex digits>".
  const match = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header.trim())
  const expected = match ? fromHex(match[2]) : null
  if (!match || !expected) return fail('malformed_signature')

  // 3. Recent in either direction, so a captured wake-up cannot be replayed later.
  const nowSeconds = Math.floor(now.getTime() / 1000)
  if (Math.abs(nowSeconds - Number(match[1])) > WAKE_SIGNATURE_MAX_AGE_SECONDS) return fail('stale_timestamp')

  // 4. HMAC-SHA256 of "<t>.<raw body>", compared in constant time.
  const valid = await verifyHmacSha256(secret, concatBytes(`${match[1]}.`, body), expected)
  return valid ? { ok: true } : fail('signature_mismatch')
}

/** The header value app.wake_function would send for `body` at `now` (tests and tools). */
export async function signWake(secret: string, body: RawBody, now: Date): Promise<string> {
  const t = String(Math.floor(now.getTime() / 1000))
  const mac = await hmacSha256(secret, concatBytes(`${t}.`, body))
  return `t=${t},v1=${Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('')}`
}
