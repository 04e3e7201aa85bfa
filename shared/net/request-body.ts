// Reads a request's raw body once, as bytes, refusing anything over a size limit (every
// function answers 413): no function reads a body with req.text()/json() unbounded. Signatures are checked on these exact bytes; the text is decoded
// from them only for parsing. A lying or absent Content-Length cannot get more through:
// the stream is counted as it is read.

/** Slack, WhatsApp, Stripe and the widget all send far less; 1 MiB bounds memory per request. */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
/** A portal or wake-up call carries a few ids. */
export const MAX_JSON_BODY_BYTES = 64 * 1024

export type RawRequestBody =
  { ok: true; bytes: Uint8Array; text: string } | { ok: false; reason: 'too_large' | 'unreadable' }

export async function readRawBody(request: Request, maxBytes = MAX_WEBHOOK_BODY_BYTES): Promise<RawRequestBody> {
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > maxBytes) return { ok: false, reason: 'too_large' }
  if (!request.body) return { ok: true, bytes: new Uint8Array(0), text: '' }

  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel().catch(() => {})
        return { ok: false, reason: 'too_large' }
      }
      chunks.push(value)
    }
  } catch {
    return { ok: false, reason: 'unreadable' }
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return { ok: true, bytes, text: new TextDecoder().decode(bytes) }
}

export type JsonRequestBody =
  { ok: true; value: unknown } | { ok: false; reason: 'too_large' | 'unreadable' | 'not_json' }

/** The body as JSON, under the same cap; an empty body is `null`. */
export async function readJsonBody(request: Request, maxBytes = MAX_JSON_BODY_BYTES): Promise<JsonRequestBody> {
  const raw = await readRawBody(request, maxBytes)
  if (!raw.ok) return raw
  if (!raw.text.trim()) return { ok: true, value: null }
  try {
    return { ok: true, value: JSON.parse(raw.text) as unknown }
  } catch {
    return { ok: false, reason: 'not_json' }
  }
}
