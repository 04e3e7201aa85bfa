// HMAC-SHA256 signing and verification over Web Crypto, shared by every channel.
// Web Crypto only (no node:crypto) so the same code runs in Deno edge functions and in Node.
// Verification goes through crypto.subtle.verify, which compares in constant time, so a
// forged signature cannot be discovered byte by byte from response timings.

const encoder = new TextEncoder()

/** Raw request bytes, or the exact text they decode to. */
export type RawBody = string | Uint8Array

function toBytes(data: RawBody): Uint8Array<ArrayBuffer> {
  if (typeof data === 'string') return encoder.encode(data)
  // Copy so the result is backed by a plain ArrayBuffer (what BufferSource requires).
  return new Uint8Array(data)
}

async function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage])
}

export async function hmacSha256(secret: string, data: RawBody): Promise<Uint8Array<ArrayBuffer>> {
  const key = await hmacKey(secret, 'sign')
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, toBytes(data)))
}

/** True when `signature` is the HMAC-SHA256 of `data` under `secret` (constant-time). */
export async function verifyHmacSha256(secret: string, data: RawBody, signature: Uint8Array): Promise<boolean> {
  const key = await hmacKey(secret, 'verify')
  return crypto.subtle.verify('HMAC', key, new Uint8Array(signature), toBytes(data))
}

/** Concatenates byte arrays; used to build a signed basestring around raw body bytes. */
export function concatBytes(...parts: RawBody[]): Uint8Array<ArrayBuffer> {
  const chunks = parts.map(toBytes)
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += b.toString(16).padStart(2, '0')
  return out
}

/** Parses lowercase or uppercase hex; null for anything else (odd length, stray characters). */
export function fromHex(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

export function base64UrlEncode(data: RawBody): string {
  let binary = ''
  for (const b of toBytes(data)) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Strict base64url decoding (no padding, URL alphabet only); null when malformed. */
export function base64UrlDecode(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4)
  try {
    const binary = atob(padded)
    const out = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
    return out
  } catch {
    return null
  }
}

/** Random URL-safe identifier (e.g. a nonce for single-use OAuth state). */
export function randomToken(bytes = 16): string {
  return base64UrlEncode(crypto.getRandomValues(new Uint8Array(bytes)))
}
