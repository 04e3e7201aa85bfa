// Text from chat users reaches Postgres only in a form it can store. Postgres refuses a
// NUL character in text and jsonb, and a lone UTF-16 surrogate (half an emoji, cut by a
// client) in JSON; either would fail the whole insert, and the sender would retry it
// forever. Every value sent to the database by the functions passes through here (the
// service RPC client and the agent worker's store), so no channel can forget it.

// A high surrogate not followed by a low one, or a low one not preceded by a high one
// (matched on UTF-16 code units: no `u` flag).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** NUL removed, lone surrogates replaced by U+FFFD; everything else unchanged. */
export function storableText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u0000/g, '').replace(LONE_SURROGATE, '\uFFFD')
}

/** A JSON-like value with every string (keys included) made storable. */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T
  if (Array.isArray(value)) return value.map((item) => storableJson(item)) as T
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [storableText(key), storableJson(item)]),
    ) as T
  }
  return value
}

/**
 * True for a database refusal that no retry can change: a data exception (SQLSTATE class
 * 22: bad encoding, value too long, invalid input) or a check violation (23514). Such a
 * message is acknowledged and reported, not refused, or its sender would redeliver it
 * (and everything queued behind it) forever.
 */
export function isUnstorable(code: string | null | undefined): boolean {
  return !!code && (code.startsWith('22') || code === '23514')
}
