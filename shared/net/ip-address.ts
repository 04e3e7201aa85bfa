// IP address parsing and classification for outbound-request guarding.
//
// Why our own parser: the decision "may the server connect here?" must not
// depend on how a given runtime's URL or DNS layer happens to normalise
// addresses (Node's URL parser, for one, rewrites ::ffff:127.0.0.1 to
// ::ffff:7f00:1). Everything is reduced to bytes first, then checked against
// ranges, so one spelling can't slip past a check written for another.

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/

/** Strict dotted-quad IPv4 ("1.2.3.4", no leading zeros, each part ≤ 255). */
export function parseCanonicalIPv4(text: string): IpBytes | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const bytes = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!
    if (!DECIMAL_OCTET.test(part)) return null
    const value = Number(part)
    if (value > 255) return null
    bytes[i] = value
  }
  return bytes
}

/**
 * True when `host` would be read as an IPv4 address by a WHATWG URL parser or
 * by inet_aton: the last label is a number (decimal, 0x-hex or 0-octal). Such
 * hosts include obscure spellings like "2130706433", "0x7f.1" or "0177.0.0.1".
 */
export function looksLikeNumericIPv4(host: string): boolean {
  const trimmed = host.endsWith('.') ? host.slice(0, -1) : host
  const last = trimmed.split('.').pop() ?? ''
  return /^(0x[0-9a-f]*|[0-9]+)$/i.test(last)
}

/**
 * Parses the legacy inet_aton forms (1 to 4 parts, each decimal, octal or hex)
 * into the address they denote, or null. Used to see where an obscure literal
 * points, so it can be reported; the guard refuses such literals regardless.
 */
export function parseLegacyIPv4(host: string): IpBytes | null {
  const trimmed = host.endsWith('.') ? host.slice(0, -1) : host
  const parts = trimmed.split('.')
  if (parts.length < 1 || parts.length > 4) return null
  const numbers: number[] = []
  for (const part of parts) {
    let value: number
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16)
    else if (/^0[0-7]+$/.test(part)) value = parseInt(part.slice(1), 8)
    else if (/^(0|[1-9][0-9]*)$/.test(part)) value = Number(part)
    else return null
    if (!Number.isSafeInteger(value)) return null
    numbers.push(value)
  }
  const last = numbers.pop()!
  if (numbers.some((n) => n > 255)) return null
  if (last >= 256 ** (4 - numbers.length)) return null
  const bytes = new Uint8Array(4)
  numbers.forEach((n, i) => (bytes[i] = n))
  let rest = last
  for (let i = 3; i >= numbers.length; i--) {
    bytes[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return bytes
}

/** Parses an IPv6 address (optionally bracketed, with an IPv4 tail); zone ids are refused. */
export function parseIPv6(text: string): IpBytes | null {
  let value = text
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1)
  if (value.includes('%')) return null // zone ids only make sense for link-local, which we refuse anyway
  if (!/^[0-9a-f:.]+$/i.test(value) || !value.includes(':')) return null

  const words: number[] = []
  let tail: number[] = []
  const halves = value.split('::')
  if (halves.length > 2) return null

  const parseGroups = (segment: string, allowIPv4Tail: boolean): number[] | null => {
    if (segment === '') return []
    const groups = segment.split(':')
    const out: number[] = []
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i]!
      if (allowIPv4Tail && i === groups.length - 1 && group.includes('.')) {
        const v4 = parseCanonicalIPv4(group)
        if (!v4) return null
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
        continue
      }
      if (!/^[0-9a-f]{1,4}$/i.test(group)) return null
      out.push(parseInt(group, 16))
    }
    return out
  }

  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false)
    const rest = parseGroups(halves[1]!, true)
    if (!head || !rest) return null
    if (head.length + rest.length > 7) return null
    words.push(...head)
    tail = rest
    while (words.length + tail.length < 8) words.push(0)
    words.push(...tail)
  } else {
    const all = parseGroups(value, true)
    if (!all || all.length !== 8) return null
    words.push(...all)
  }

  const bytes = new Uint8Array(16)
  words.forEach((word, i) => {
    bytes[i * 2] = word >> 8
    bytes[i * 2 + 1] = word & 0xff
  })
  return bytes
}

/** Parses a canonical IPv4 or any IPv6 address; anything else is null. */
export function parseIpAddress(text: string): IpBytes | null {
  return parseCanonicalIPv4(text) ?? parseIPv6(text)
}

function inPrefix(bytes: IpBytes, prefix: readonly number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit++) {
    const byteIndex = bit >> 3
    const mask = 0x80 >> (bit & 7)
    if ((bytes[byteIndex]! & mask) !== ((prefix[byteIndex] ?? 0) & mask)) return false
  }
  return true
}

// Ranges a server must never reach on a tenant's (or a model's) behalf: the
// IANA IPv4 and IPv6 Special-Purpose Address Registries (every block not
// "globally reachable", and the protocol blocks of unclear reach), plus
// multicast. Named so a refusal can say why.
const BLOCKED_IPV4: ReadonlyArray<[string, number[], number]> = [
  ['this network', [0], 8],
  ['private', [10], 8],
  ['carrier-grade NAT', [100, 64], 10],
  ['loopback', [127], 8],
  ['link-local', [169, 254], 16],
  ['private', [172, 16], 12],
  ['IETF protocol assignments', [192, 0, 0], 24],
  ['documentation', [192, 0, 2], 24],
  ['AS112', [192, 31, 196], 24],
  ['AMT', [192, 52, 193], 24],
  ['6to4 relay anycast', [192, 88, 99], 24],
  ['private', [192, 168], 16],
  ['AS112', [192, 175, 48], 24],
  ['benchmarking', [198, 18], 15],
  ['documentation', [198, 51, 100], 24],
  ['documentation', [203, 0, 113], 24],
  ['multicast', [224], 4],
  ['reserved', [240], 4],
]

// IPv6 is judged the other way round: only global unicast (2000::/3) may be
// reached, minus the special-purpose blocks inside it. Everything outside it
// (IPv4-translated ::ffff:0:0:0/96, local-use NAT64 64:ff9b:1::/48, discard
// 100::/64, SRv6 5f00::/16, unique-local, link-local, multicast, and whatever
// is assigned next) is refused without needing its own line here.
const GLOBAL_UNICAST_IPV6: [number[], number] = [[0x20], 3]
const BLOCKED_IPV6: ReadonlyArray<[string, number[], number]> = [
  ['IETF protocol assignments', [0x20, 0x01, 0x00, 0x00], 23], // Teredo, benchmarking, ORCHID, AMT, AS112 …
  ['documentation', [0x20, 0x01, 0x0d, 0xb8], 32],
  ['documentation', [0x3f, 0xff], 20],
]

const NAMED_OUTSIDE_GLOBAL_UNICAST: ReadonlyArray<[string, number[], number]> = [
  ['IPv4-translated', [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0], 96],
  ['local-use NAT64', [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48],
  ['discard-only', [0x01, 0x00, 0, 0, 0, 0, 0, 0], 64],
  ['segment routing', [0x5f, 0x00], 16],
  ['unique-local', [0xfc], 7],
  ['link-local', [0xfe, 0x80], 10],
  ['site-local', [0xfe, 0xc0], 10],
  ['multicast', [0xff], 8],
]

/**
 * Why an address must not be contacted, or null when it is public unicast.
 * Unparseable input is refused (fail closed). IPv6 forms that embed an IPv4
 * address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96,
 * 6to4 2002::/16) are judged by the IPv4 address they carry.
 */
export function blockedAddressReason(address: string | IpBytes): string | null {
  const bytes = typeof address === 'string' ? parseIpAddress(address) : address
  if (!bytes) return 'not an IP address'
  if (bytes.length === 4) {
    for (const [name, prefix, bits] of BLOCKED_IPV4) if (inPrefix(bytes, prefix, bits)) return name
    return null
  }
  const allZeroUntil = (end: number) => bytes.subarray(0, end).every((b) => b === 0)
  if (allZeroUntil(16)) return 'unspecified'
  if (allZeroUntil(15) && bytes[15] === 1) return 'loopback'
  const embedded = (from: number) => blockedAddressReason(bytes.slice(from, from + 4))
  if (allZeroUntil(10) && bytes[10] === 0xff && bytes[11] === 0xff) {
    const reason = embedded(12)
    return reason ? `IPv4-mapped ${reason}` : null
  }
  if (allZeroUntil(12)) {
    const reason = embedded(12)
    return reason ? `IPv4-compatible ${reason}` : 'IPv4-compatible (deprecated)'
  }
  if (inPrefix(bytes, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) {
    const reason = embedded(12)
    return reason ? `NAT64 ${reason}` : null
  }
  if (inPrefix(bytes, [0x20, 0x02], 16)) {
    const reason = embedded(2)
    return reason ? `6to4 ${reason}` : null
  }
  if (!inPrefix(bytes, ...GLOBAL_UNICAST_IPV6)) {
    for (const [name, prefix, bits] of NAMED_OUTSIDE_GLOBAL_UNICAST) if (inPrefix(bytes, prefix, bits)) return name
    return 'not global unicast'
  }
  for (const [name, prefix, bits] of BLOCKED_IPV6) if (inPrefix(bytes, prefix, bits)) return name
  return null
}
