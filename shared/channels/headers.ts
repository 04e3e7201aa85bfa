// Webhook handlers receive Fetch Headers in Deno but plain records in Node tests and
// benchmarks; this reads one header from either, case-insensitively.

export type HeaderSource = Headers | Record<string, string | string[] | undefined>

export function readHeader(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined
  const wanted = name.toLowerCase()
  const key = Object.keys(headers).find((k) => k.toLowerCase() === wanted)
  const value = key === undefined ? undefined : headers[key]
  return Array.isArray(value) ? value[0] : value
}
