// Text out of a text-based PDF, in plain TypeScript with Web APIs only (the edge
// runtime has no native PDF libraries). It reads what typical generated PDFs
// (browsers, office suites, report generators) contain: indirect objects and object
// streams, FlateDecode/ASCIIHex/ASCII85 streams (DecompressionStream('deflate')), the
// page tree with inherited resources, form XObjects, and the text operators
// (Tj, TJ, ', ", Td, TD, Tm, T*) with fonts decoded through their ToUnicode CMaps,
// or WinAnsi/Differences for simple fonts.
//
// Not supported, and reported as such (PdfTextUnavailable with a reason an admin can
// act on): encrypted PDFs, scanned PDFs (images without text: that needs OCR), and
// fonts with no Unicode mapping. Layout is approximated: lines where the text moves
// down, blank lines for bigger gaps, spaces for wide horizontal gaps, and lines set
// clearly larger than the body text as Markdown headings (the sections of passages).

export class PdfTextUnavailable extends Error {
  override readonly name = 'PdfTextUnavailable'
}

export interface PdfTextOptions {
  maxPages?: number
  maxChars?: number
  /**
   * Bytes all streams together may decode to. A small PDF can inflate a thousandfold
   * (a "zip bomb"); past this budget reading stops and the file is refused, so one
   * upload cannot take the function's memory (edge functions have 256 MB).
   */
  maxDecodedBytes?: number
}

export const DEFAULT_MAX_DECODED_BYTES = 48 * 1024 * 1024

/** The decompression budget of one document, spent as streams are decoded. */
class DecodeBudget {
  constructor(private remaining: number) {}

  spend(bytes: number) {
    this.remaining -= bytes
    if (this.remaining < 0) throw new PdfTooLarge()
  }
}

class PdfTooLarge extends PdfTextUnavailable {
  constructor() {
    super('the PDF expands to too much data when decompressed; split it into smaller files or paste the text')
  }
}

export interface PdfTextResult {
  text: string
  pages: number
}

// Objects ------------------------------------------------------------------------------------

class Name {
  constructor(readonly value: string) {}
}
class Ref {
  constructor(
    readonly num: number,
    readonly gen: number,
  ) {}
}
class Str {
  constructor(readonly bytes: Uint8Array) {}
}
class Op {
  constructor(readonly value: string) {}
}
class Stream {
  constructor(
    readonly dict: Dict,
    readonly raw: Uint8Array,
  ) {}
}
type Dict = Map<string, Value>
type Value = number | boolean | null | Name | Ref | Str | Value[] | Dict | Stream | Op

const WHITESPACE = new Set([0, 9, 10, 12, 13, 32])
const DELIMITERS = new Set('()<>[]{}/%'.split('').map((c) => c.charCodeAt(0)))

function isRegular(byte: number): boolean {
  return !WHITESPACE.has(byte) && !DELIMITERS.has(byte)
}

/** A reader of PDF syntax over bytes (files and content streams alike). */
class Lexer {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}

  skipSpace() {
    const b = this.bytes
    while (this.pos < b.length) {
      const c = b[this.pos]!
      if (WHITESPACE.has(c)) this.pos++
      else if (c === 37 /* % */) {
        while (this.pos < b.length && b[this.pos] !== 10 && b[this.pos] !== 13) this.pos++
      } else break
    }
  }

  /** The next value; operators (and keywords like obj/stream/R) come back as Op. */
  next(): Value | undefined {
    this.skipSpace()
    const b = this.bytes
    if (this.pos >= b.length) return undefined
    const c = b[this.pos]!
    if (c === 47 /* / */) return this.name()
    if (c === 40 /* ( */) return this.literal()
    if (c === 60 /* < */) {
      if (b[this.pos + 1] === 60) {
        this.pos += 2
        return this.dict()
      }
      return this.hex()
    }
    if (c === 91 /* [ */) {
      this.pos++
      const items: Value[] = []
      for (;;) {
        this.skipSpace()
        if (this.pos >= b.length) break
        if (b[this.pos] === 93) {
          this.pos++
          break
        }
        const v = this.valueWithRefs()
        if (v === undefined) break
        items.push(v)
      }
      return items
    }
    if (c === 93 || c === 62 || c === 41 || c === 123 || c === 125) {
      this.pos++
      return new Op(String.fromCharCode(c))
    }
    const start = this.pos
    while (this.pos < b.length && isRegular(b[this.pos]!)) this.pos++
    const word = latin1(b.subarray(start, this.pos))
    if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(word)) return Number(word)
    if (word === 'true') return true
    if (word === 'false') return false
    if (word === 'null') return null
    return new Op(word)
  }

  /** A value where "n g R" is read as a reference (dictionaries, arrays, object bodies). */
  valueWithRefs(): Value | undefined {
    const v = this.next()
    if (typeof v === 'number' && Number.isInteger(v)) {
      const save = this.pos
      const gen = this.next()
      if (typeof gen === 'number' && Number.isInteger(gen)) {
        const r = this.next()
        if (r instanceof Op && r.value === 'R') return new Ref(v, gen)
      }
      this.pos = save
    }
    return v
  }

  private name(): Name {
    const b = this.bytes
    this.pos++
    let out = ''
    while (this.pos < b.length && isRegular(b[this.pos]!)) {
      const c = b[this.pos]!
      if (c === 35 /* # */ && /^[0-9a-fA-F]{2}$/.test(latin1(b.subarray(this.pos + 1, this.pos + 3)))) {
        out += String.fromCharCode(parseInt(latin1(b.subarray(this.pos + 1, this.pos + 3)), 16))
        this.pos += 3
      } else {
        out += String.fromCharCode(c)
        this.pos++
      }
    }
    return new Name(out)
  }

  private literal(): Str {
    const b = this.bytes
    this.pos++
    const out: number[] = []
    let depth = 1
    while (this.pos < b.length) {
      const c = b[this.pos++]!
      if (c === 92 /* \ */) {
        const e = b[this.pos++]
        if (e === undefined) break
        const simple: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 102: 12 }
        if (simple[e] !== undefined) out.push(simple[e]!)
        else if (e >= 48 && e <= 55) {
          let octal = e - 48
          for (let i = 0; i < 2 && b[this.pos]! >= 48 && b[this.pos]! <= 55; i++)
            octal = octal * 8 + (b[this.pos++]! - 48)
          out.push(octal & 0xff)
        } else if (e === 13) {
          if (b[this.pos] === 10) this.pos++
        } else if (e !== 10) out.push(e)
        continue
      }
      if (c === 40) depth++
      if (c === 41 && --depth === 0) break
      out.push(c)
    }
    return new Str(Uint8Array.from(out))
  }

  private hex(): Str {
    const b = this.bytes
    this.pos++
    let digits = ''
    while (this.pos < b.length && b[this.pos] !== 62) {
      const ch = String.fromCharCode(b[this.pos++]!)
      if (/[0-9a-fA-F]/.test(ch)) digits += ch
    }
    this.pos++
    if (digits.length % 2) digits += '0'
    const out = new Uint8Array(digits.length / 2)
    for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16)
    return new Str(out)
  }

  private dict(): Dict {
    const d: Dict = new Map()
    const b = this.bytes
    for (;;) {
      this.skipSpace()
      if (this.pos >= b.length) break
      if (b[this.pos] === 62 && b[this.pos + 1] === 62) {
        this.pos += 2
        break
      }
      const key = this.next()
      if (!(key instanceof Name)) continue
      const value = this.valueWithRefs()
      if (value === undefined) break
      d.set(key.value, value)
    }
    return d
  }
}

function latin1(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192))
  return s
}

// Streams ------------------------------------------------------------------------------------

async function readAll(stream: ReadableStream<Uint8Array>, budget: DecodeBudget): Promise<Uint8Array> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>
    try {
      next = await reader.read()
    } catch (error) {
      // Trailing bytes after the deflate data (common) end the stream with an error;
      // what was inflated before it is the content.
      if (!chunks.length) throw error
      break
    }
    if (next.done) break
    try {
      budget.spend(next.value.byteLength)
    } catch (error) {
      await reader.cancel().catch(() => {})
      throw error
    }
    chunks.push(next.value)
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

async function inflate(data: Uint8Array, format: 'deflate' | 'deflate-raw', budget: DecodeBudget): Promise<Uint8Array> {
  const ds = new DecompressionStream(format)
  const writer = ds.writable.getWriter()
  writer.write(data as Uint8Array<ArrayBuffer>).catch(() => {})
  writer.close().catch(() => {})
  return readAll(ds.readable as ReadableStream<Uint8Array>, budget)
}

async function flateDecode(data: Uint8Array, budget: DecodeBudget): Promise<Uint8Array> {
  try {
    return await inflate(data, 'deflate', budget)
  } catch (error) {
    if (error instanceof PdfTooLarge) throw error
    // Some writers leave out the zlib header.
    return inflate(data, 'deflate-raw', budget)
  }
}

function asciiHexDecode(data: Uint8Array): Uint8Array {
  const value = new Lexer(Uint8Array.from([60, ...data.filter((c) => c !== 62), 62])).next()
  return value instanceof Str ? value.bytes : new Uint8Array()
}

function ascii85Decode(data: Uint8Array): Uint8Array {
  const out: number[] = []
  let group: number[] = []
  for (const c of data) {
    if (c === 126 /* ~ */) break
    if (WHITESPACE.has(c)) continue
    if (c === 122 /* z */ && group.length === 0) {
      out.push(0, 0, 0, 0)
      continue
    }
    group.push(c - 33)
    if (group.length === 5) {
      let n = 0
      for (const g of group) n = n * 85 + g
      out.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)
      group = []
    }
  }
  if (group.length > 1) {
    const len = group.length
    while (group.length < 5) group.push(84)
    let n = 0
    for (const g of group) n = n * 85 + g
    const bytes = [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
    out.push(...bytes.slice(0, len - 1))
  }
  return Uint8Array.from(out)
}

class UnsupportedFilter extends Error {}

// The document -------------------------------------------------------------------------------

class PdfDocument {
  private objects = new Map<number, Value>()
  private decoded = new Map<Stream, Promise<Uint8Array>>()
  trailers: Dict[] = []

  constructor(
    private readonly bytes: Uint8Array,
    private readonly budget: DecodeBudget,
  ) {}

  /** Reads every "n g obj" in file order (a later definition wins, as with incremental updates). */
  async load() {
    const b = this.bytes
    const text = latin1(b)
    const objPattern = /(\d+)\s+(\d+)\s+obj\b/g
    let skipUntil = 0
    const objectStreams: Stream[] = []
    for (let m = objPattern.exec(text); m; m = objPattern.exec(text)) {
      if (m.index < skipUntil) continue
      const lexer = new Lexer(b)
      lexer.pos = m.index + m[0].length
      const value = lexer.valueWithRefs()
      if (value === undefined) break
      let stored: Value = value
      const after = lexer.pos
      lexer.skipSpace()
      if (value instanceof Map && text.startsWith('stream', lexer.pos)) {
        let start = lexer.pos + 6
        if (b[start] === 13) start++
        if (b[start] === 10) start++
        const declared = value.get('Length')
        let end = -1
        if (typeof declared === 'number' && /^\s*endstream/.test(text.slice(start + declared, start + declared + 20))) {
          end = start + declared
        } else {
          end = text.indexOf('endstream', start)
          if (end < 0) end = b.length
          if (b[end - 1] === 10) end--
          if (b[end - 1] === 13) end--
        }
        stored = new Stream(value, b.subarray(start, Math.max(start, end)))
        skipUntil = end
        const type = value.get('Type')
        if (type instanceof Name && type.value === 'ObjStm') objectStreams.push(stored)
        if (type instanceof Name && type.value === 'XRef') this.trailers.push(value)
      } else {
        skipUntil = after
      }
      this.objects.set(Number(m[1]), stored)
    }
    for (let at = text.indexOf('trailer'); at >= 0; at = text.indexOf('trailer', at + 7)) {
      const lexer = new Lexer(b)
      lexer.pos = at + 7
      const dict = lexer.next()
      if (dict instanceof Map) this.trailers.push(dict)
    }
    for (const stream of objectStreams) await this.loadObjectStream(stream)
  }

  private async loadObjectStream(stream: Stream) {
    let data: Uint8Array
    try {
      data = await this.decode(stream)
    } catch (error) {
      if (error instanceof PdfTooLarge) throw error
      return
    }
    const count = Number(stream.dict.get('N') ?? 0)
    const first = Number(stream.dict.get('First') ?? 0)
    const lexer = new Lexer(data)
    const pairs: Array<[number, number]> = []
    for (let i = 0; i < count; i++) {
      const num = lexer.next()
      const offset = lexer.next()
      if (typeof num !== 'number' || typeof offset !== 'number') break
      pairs.push([num, offset])
    }
    for (const [num, offset] of pairs) {
      if (this.objects.has(num)) continue
      lexer.pos = first + offset
      const value = lexer.valueWithRefs()
      if (value !== undefined) this.objects.set(num, value)
    }
  }

  resolve(value: Value | undefined, depth = 0): Value | undefined {
    if (value instanceof Ref) return depth > 16 ? undefined : this.resolve(this.objects.get(value.num), depth + 1)
    return value
  }

  dict(value: Value | undefined): Dict | undefined {
    const v = this.resolve(value)
    if (v instanceof Map) return v
    if (v instanceof Stream) return v.dict
    return undefined
  }

  get(dict: Dict | undefined, key: string): Value | undefined {
    return dict ? this.resolve(dict.get(key)) : undefined
  }

  decode(stream: Stream): Promise<Uint8Array> {
    let cached = this.decoded.get(stream)
    if (!cached) {
      cached = this.decodeUncached(stream)
      this.decoded.set(stream, cached)
    }
    return cached
  }

  private async decodeUncached(stream: Stream): Promise<Uint8Array> {
    const filter = this.resolve(stream.dict.get('Filter'))
    const filters = (Array.isArray(filter) ? filter : filter ? [filter] : []).map((f) => this.resolve(f))
    let data = stream.raw
    for (const f of filters) {
      const name = f instanceof Name ? f.value : ''
      if (name === 'FlateDecode' || name === 'Fl') data = await flateDecode(data, this.budget)
      else if (name === 'ASCIIHexDecode' || name === 'AHx') data = asciiHexDecode(data)
      else if (name === 'ASCII85Decode' || name === 'A85') data = ascii85Decode(data)
      else throw new UnsupportedFilter(name || 'unknown')
      if (name !== 'FlateDecode' && name !== 'Fl') this.budget.spend(data.length)
    }
    return data
  }

  root(): Dict | undefined {
    for (const trailer of [...this.trailers].reverse()) {
      const root = this.dict(trailer.get('Root'))
      if (root) return root
    }
    for (const value of this.objects.values()) {
      const d = value instanceof Map ? value : undefined
      const type = d?.get('Type')
      if (type instanceof Name && type.value === 'Catalog') return d
    }
    return undefined
  }

  encrypted(): boolean {
    return this.trailers.some((t) => t.has('Encrypt'))
  }

  /** Pages in order, each with its (inherited) resources. */
  pages(limit: number): Array<{ page: Dict; resources: Dict | undefined }> {
    const out: Array<{ page: Dict; resources: Dict | undefined }> = []
    const seen = new Set<Dict>()
    const walk = (node: Dict | undefined, inherited: Dict | undefined) => {
      if (!node || seen.has(node) || out.length >= limit) return
      seen.add(node)
      const resources = this.dict(node.get('Resources')) ?? inherited
      const kids = this.get(node, 'Kids')
      if (Array.isArray(kids)) for (const kid of kids) walk(this.dict(kid), resources)
      else out.push({ page: node, resources })
    }
    walk(this.dict(this.root()?.get('Pages')), undefined)
    return out
  }
}

// Fonts ---------------------------------------------------------------------------------------

interface FontDecoder {
  /** The text of a string, and its advance in thousandths of the font size. */
  decode(bytes: Uint8Array): { text: string; unmapped: number; width: number }
}

const GLYPH_NAMES: Record<string, string> = {
  space: ' ',
  exclam: '!',
  quotedbl: '"',
  numbersign: '#',
  dollar: '$',
  percent: '%',
  ampersand: '&',
  quotesingle: "'",
  quoteright: '\u2019',
  quoteleft: '\u2018',
  parenleft: '(',
  parenright: ')',
  asterisk: '*',
  plus: '+',
  comma: ',',
  hyphen: '-',
  period: '.',
  slash: '/',
  colon: ':',
  semicolon: ';',
  less: '<',
  equal: '=',
  greater: '>',
  question: '?',
  at: '@',
  bracketleft: '[',
  backslash: '\\',
  bracketright: ']',
  underscore: '_',
  braceleft: '{',
  bar: '|',
  braceright: '}',
  asciitilde: '~',
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  bullet: '\u2022',
  endash: '\u2013',
  emdash: '\u2014',
  quotedblleft: '\u201c',
  quotedblright: '\u201d',
  ellipsis: '\u2026',
  fi: 'fi',
  fl: 'fl',
  ff: 'ff',
  ffi: 'ffi',
  ffl: 'ffl',
  Euro: '\u20ac',
  copyright: '\u00a9',
  registered: '\u00ae',
  trademark: '\u2122',
  degree: '\u00b0',
  eacute: '\u00e9',
  egrave: '\u00e8',
  agrave: '\u00e0',
  ccedilla: '\u00e7',
  udieresis: '\u00fc',
  odieresis: '\u00f6',
  adieresis: '\u00e4',
  germandbls: '\u00df',
  nbspace: ' ',
  minus: '-',
  grave: '`',
  asciicircum: '^',
  sterling: '\u00a3',
  yen: '\u00a5',
  section: '\u00a7',
  paragraph: '\u00b6',
}

function glyphNameToText(name: string): string | undefined {
  if (GLYPH_NAMES[name] !== undefined) return GLYPH_NAMES[name]
  if (/^[A-Za-z]$/.test(name)) return name
  const uni = /^uni([0-9A-F]{4})$/.exec(name) ?? /^u([0-9A-F]{4,6})$/.exec(name)
  if (uni) return String.fromCodePoint(parseInt(uni[1]!, 16))
  return undefined
}

function utf16be(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!)
  return s
}

function bytesToNumber(bytes: Uint8Array): number {
  let n = 0
  for (const b of bytes) n = n * 256 + b
  return n
}

/** A ToUnicode CMap: code space (byte lengths) and code → text. */
function parseToUnicode(data: Uint8Array): { lengths: number[]; map: Map<string, string> } {
  const lexer = new Lexer(data)
  const map = new Map<string, string>()
  const lengths = new Set<number>()
  const key = (bytes: Uint8Array) => `${bytes.length}:${bytesToNumber(bytes)}`
  const operands: Value[] = []
  for (let v = lexer.next(); v !== undefined; v = lexer.next()) {
    if (!(v instanceof Op)) {
      operands.push(v)
      continue
    }
    const op = v.value
    if (op === 'endcodespacerange') {
      for (let i = 0; i + 1 < operands.length; i += 2) {
        const lo = operands[i]
        if (lo instanceof Str) lengths.add(lo.bytes.length)
      }
    } else if (op === 'endbfchar') {
      for (let i = 0; i + 1 < operands.length; i += 2) {
        const src = operands[i]
        const dst = operands[i + 1]
        if (src instanceof Str && dst instanceof Str) map.set(key(src.bytes), utf16be(dst.bytes))
        else if (src instanceof Str && dst instanceof Name) map.set(key(src.bytes), glyphNameToText(dst.value) ?? '')
      }
    } else if (op === 'endbfrange') {
      for (let i = 0; i + 2 < operands.length; i += 3) {
        const lo = operands[i]
        const hi = operands[i + 1]
        const dst = operands[i + 2]
        if (!(lo instanceof Str) || !(hi instanceof Str)) continue
        const width = lo.bytes.length
        const from = bytesToNumber(lo.bytes)
        const to = Math.min(bytesToNumber(hi.bytes), from + 65535)
        for (let code = from; code <= to; code++) {
          const k = `${width}:${code}`
          if (dst instanceof Str) {
            // The last byte of the destination counts up with the code.
            const bytes = Uint8Array.from(dst.bytes)
            if (bytes.length) {
              let carry = code - from
              for (let j = bytes.length - 1; j >= 0 && carry > 0; j--) {
                const sum = bytes[j]! + carry
                bytes[j] = sum & 0xff
                carry = sum >> 8
              }
            }
            map.set(k, utf16be(bytes))
          } else if (Array.isArray(dst)) {
            const item = dst[code - from]
            if (item instanceof Str) map.set(k, utf16be(item.bytes))
          }
        }
      }
    }
    if (/^(begin|end)/.test(op) || op === 'def' || op === 'findresource' || op === 'usecmap') operands.length = 0
  }
  return { lengths: [...lengths].sort((a, b) => a - b), map }
}

const winAnsi = new TextDecoder('windows-1252')

async function fontDecoder(doc: PdfDocument, font: Dict | undefined): Promise<FontDecoder> {
  const subtype = doc.get(font, 'Subtype')
  const composite = subtype instanceof Name && subtype.value === 'Type0'
  const toUnicode = doc.resolve(font?.get('ToUnicode'))
  let cmap: { lengths: number[]; map: Map<string, string> } | null = null
  if (toUnicode instanceof Stream) {
    try {
      cmap = parseToUnicode(await doc.decode(toUnicode))
    } catch (error) {
      if (error instanceof PdfTooLarge) throw error
      cmap = null
    }
  }
  // Simple fonts: WinAnsi (close to Standard for text) with /Differences over it.
  const differences = new Map<number, string>()
  const encoding = doc.get(font, 'Encoding')
  if (encoding instanceof Map) {
    const diffs = doc.get(encoding, 'Differences')
    if (Array.isArray(diffs)) {
      let code = 0
      for (const item of diffs) {
        if (typeof item === 'number') code = item
        else if (item instanceof Name) {
          const text = glyphNameToText(item.value)
          if (text !== undefined) differences.set(code, text)
          code++
        }
      }
    }
  }
  // Glyph widths, to tell a kerning move from a word gap.
  const widths = new Map<number, number>()
  let defaultWidth = 500
  if (composite) {
    const descendants = doc.get(font, 'DescendantFonts')
    const cidFont = doc.dict(Array.isArray(descendants) ? descendants[0] : undefined)
    const dw = doc.get(cidFont, 'DW')
    defaultWidth = typeof dw === 'number' ? dw : 1000
    const w = doc.get(cidFont, 'W')
    if (Array.isArray(w)) {
      for (let i = 0; i < w.length;) {
        const first = doc.resolve(w[i])
        const second = doc.resolve(w[i + 1])
        if (typeof first !== 'number') break
        if (Array.isArray(second)) {
          second.forEach((width, j) => {
            const value = doc.resolve(width)
            if (typeof value === 'number') widths.set(first + j, value)
          })
          i += 2
        } else {
          const width = doc.resolve(w[i + 2])
          if (typeof second === 'number' && typeof width === 'number') {
            for (let c = first; c <= Math.min(second, first + 65535); c++) widths.set(c, width)
          }
          i += 3
        }
      }
    }
  } else {
    const firstChar = doc.get(font, 'FirstChar')
    const list = doc.get(font, 'Widths')
    if (typeof firstChar === 'number' && Array.isArray(list)) {
      list.forEach((width, j) => {
        const value = doc.resolve(width)
        if (typeof value === 'number') widths.set(firstChar + j, value)
      })
    }
  }
  const lengths = cmap?.lengths.length ? cmap.lengths : composite ? [2] : [1]
  return {
    decode(bytes) {
      let text = ''
      let unmapped = 0
      let width = 0
      for (let i = 0; i < bytes.length;) {
        let len = composite ? (lengths[0] ?? 2) : 1
        let mapped: string | undefined
        if (cmap) {
          for (const l of lengths) {
            if (i + l > bytes.length) continue
            mapped = cmap.map.get(`${l}:${bytesToNumber(bytes.subarray(i, i + l))}`)
            if (mapped !== undefined) {
              len = l
              break
            }
          }
        }
        const code = bytesToNumber(bytes.subarray(i, i + len))
        width += widths.get(code) ?? defaultWidth
        i += len
        if (mapped !== undefined) text += mapped
        else if (composite) unmapped++
        else {
          const diff = differences.get(code)
          text += diff !== undefined ? diff : winAnsi.decode(Uint8Array.of(code))
        }
      }
      return { text, unmapped, width }
    },
  }
}

// Content streams -----------------------------------------------------------------------------

interface PageText {
  /** The page's text; every line starts with a LINE_SIZE marker of the size its text is set in. */
  text: string
  unmapped: number
  mapped: number
  images: number
  /** Characters shown at each text size (rounded to a tenth of a point). */
  sizes: Map<number, number>
}

// A line's text size travels with the raw text (between \u0001 and \u0002, which decoded
// text never keeps) until headings are decided for the whole file.
/* eslint-disable no-control-regex */
const LINE_SIZE = /\u0001(\d+(?:\.\d+)?)\u0002/g
const LINE_START = /^\s*\u0001(\d+(?:\.\d+)?)\u0002/
/* eslint-enable no-control-regex */
const lineSize = (size: number) => `\u0001${size}\u0002`

async function pageText(
  doc: PdfDocument,
  content: Uint8Array,
  resources: Dict | undefined,
  fonts: Map<Dict, FontDecoder>,
  depth = 0,
): Promise<PageText> {
  const result: PageText = { text: '', unmapped: 0, mapped: 0, images: 0, sizes: new Map() }
  const fontDict = doc.dict(resources?.get('Font'))
  const xobjects = doc.dict(resources?.get('XObject'))
  let decoder: FontDecoder | null = null
  let fontSize = 10
  let leading = 0
  // Text line matrix [a b c d e f]; only what moves text is tracked.
  let tlm = [1, 0, 0, 1, 0, 0]
  let lastY: number | null = null
  // Where the pen is on the current line, and where the last shown text ended.
  let penX = 0
  let lastEndX: number | null = null
  let pendingGap = false
  const lexer = new Lexer(content)
  const operands: Value[] = []

  const scale = () => Math.abs(tlm[3]!) || Math.abs(tlm[0]!) || 1
  const hscale = () => Math.abs(tlm[0]!) || 1
  const gapCheck = () => {
    if (
      lastEndX !== null &&
      lastY !== null &&
      Math.abs(tlm[5]! - lastY) < 0.01 &&
      penX - lastEndX > fontSize * hscale() * 0.2
    )
      pendingGap = true
  }
  const show = (bytes: Uint8Array) => {
    if (!decoder) return
    const decoded = decoder.decode(bytes)
    const { unmapped, width } = decoded
    // Control characters carry no text (and \u0001 marks line sizes here).
    // eslint-disable-next-line no-control-regex
    const text = decoded.text.replace(/[\u0000-\u0008]/g, '')
    result.unmapped += unmapped
    gapCheck()
    penX += (width / 1000) * fontSize * hscale()
    if (!text) return
    result.mapped += text.length
    const y = tlm[5]!
    const size = Math.round(fontSize * scale() * 10) / 10
    result.sizes.set(size, (result.sizes.get(size) ?? 0) + text.length)
    const lineHeight = Math.max(fontSize * scale(), 1)
    if (lastY === null) result.text += lineSize(size)
    else if (Math.abs(y - lastY) > lineHeight * 0.3) {
      result.text += (Math.abs(y - lastY) > lineHeight * 1.8 ? '\n\n' : '\n') + lineSize(size)
    } else if (pendingGap && result.text && !/\s$/.test(result.text) && !/^\s/.test(text)) {
      result.text += ' '
    }
    pendingGap = false
    result.text += text
    lastY = y
    lastEndX = penX
  }
  const moveText = (tx: number, ty: number) => {
    const [a, b, c, d, e, f] = tlm as [number, number, number, number, number, number]
    tlm = [a, b, c, d, e + tx * a + ty * c, f + tx * b + ty * d]
    penX = tlm[4]!
  }

  for (let v = lexer.next(); v !== undefined; v = lexer.next()) {
    if (!(v instanceof Op)) {
      operands.push(v)
      continue
    }
    const op = v.value
    const num = (i: number) => {
      const x = operands[operands.length - i]
      return typeof x === 'number' ? x : 0
    }
    switch (op) {
      case 'BT':
        tlm = [1, 0, 0, 1, 0, 0]
        penX = 0
        break
      case 'Tf': {
        const name = operands[operands.length - 2]
        fontSize = Math.abs(num(1)) || fontSize
        const font = name instanceof Name ? doc.dict(fontDict?.get(name.value)) : undefined
        if (font) {
          if (!fonts.has(font)) fonts.set(font, await fontDecoder(doc, font))
          decoder = fonts.get(font)!
        } else decoder = null
        break
      }
      case 'TL':
        leading = num(1)
        break
      case 'Td':
        moveText(num(2), num(1))
        break
      case 'TD':
        leading = -num(1)
        moveText(num(2), num(1))
        break
      case 'Tm':
        tlm = [num(6), num(5), num(4), num(3), num(2), num(1)]
        penX = tlm[4]!
        break
      case 'T*':
        moveText(0, -leading || -fontSize)
        break
      case 'Tj': {
        const s = operands[operands.length - 1]
        if (s instanceof Str) show(s.bytes)
        break
      }
      case "'":
      case '"': {
        moveText(0, -leading || -fontSize)
        const s = operands[operands.length - 1]
        if (s instanceof Str) show(s.bytes)
        break
      }
      case 'TJ': {
        const items = operands[operands.length - 1]
        if (Array.isArray(items)) {
          for (const item of items) {
            if (item instanceof Str) show(item.bytes)
            // A wide negative adjustment is a word gap (in thousandths of the font size).
            else if (typeof item === 'number') {
              penX -= (item / 1000) * fontSize * hscale()
              if (item < -180) pendingGap = true
            }
          }
        }
        break
      }
      case 'Do': {
        const name = operands[operands.length - 1]
        const xobject = name instanceof Name ? doc.resolve(xobjects?.get(name.value)) : undefined
        if (xobject instanceof Stream) {
          const sub = doc.get(xobject.dict, 'Subtype')
          if (sub instanceof Name && sub.value === 'Image') result.images++
          else if (sub instanceof Name && sub.value === 'Form' && depth < 4) {
            try {
              const inner = await pageText(
                doc,
                await doc.decode(xobject),
                doc.dict(xobject.dict.get('Resources')) ?? resources,
                fonts,
                depth + 1,
              )
              if (inner.text) result.text += (result.text ? '\n' : '') + inner.text
              for (const [size, count] of inner.sizes) result.sizes.set(size, (result.sizes.get(size) ?? 0) + count)
              result.mapped += inner.mapped
              result.unmapped += inner.unmapped
              result.images += inner.images
            } catch (error) {
              if (error instanceof PdfTooLarge) throw error
              // an unreadable form is skipped like any unreadable stream
            }
          }
        }
        break
      }
      case 'BI': {
        // Inline image: skip its data up to EI.
        result.images++
        const rest = latin1(content.subarray(lexer.pos, Math.min(content.length, lexer.pos + 1_000_000)))
        const end = rest.search(/\sEI(\s|$)/)
        lexer.pos += end < 0 ? rest.length : end + 3
        break
      }
    }
    operands.length = 0
  }
  return result
}

// The whole file --------------------------------------------------------------------------------

/**
 * Lines set clearly larger than the body text (the size most characters have) become
 * Markdown headings, the largest size "#", the next "##", then "###", so passages keep
 * their sections. A heading wrapped over several lines is one heading.
 */
function markHeadings(rawPages: string[], sizes: Map<number, number>): string[] {
  let body = 0
  let most = -1
  for (const [size, count] of sizes) if (count > most) [body, most] = [size, count]
  const larger = [...sizes.keys()].filter((size) => size >= body * 1.25).sort((a, b) => b - a)
  const levels = new Map(larger.slice(0, 3).map((size, i) => [size, i + 1]))
  return rawPages.map((raw) => {
    const out: string[] = []
    let lastLevel = 0
    for (const line of raw.split('\n')) {
      const marked = LINE_START.exec(line)
      const text = line.replace(LINE_SIZE, '').trim()
      const level = marked ? (levels.get(Number(marked[1])) ?? 0) : 0
      if (level && text.length <= 150 && /\p{L}/u.test(text)) {
        if (level === lastLevel) out[out.length - 1] += ` ${text}`
        else out.push('', `${'#'.repeat(level)} ${text}`)
        lastLevel = level
        continue
      }
      if (lastLevel && text) out.push('')
      lastLevel = 0
      out.push(line.replace(LINE_SIZE, ''))
    }
    return out.join('\n')
  })
}

function cleanText(text: string): string {
  // Control characters are exactly what this strips from extracted text.
  /* eslint-disable no-control-regex */
  return (
    text
      .replace(/\u0000/g, '')
      .replace(/[\u0001-\u0008\u000b\u000c\u000e-\u001f\u00ad\ufffd]/g, '')
      /* eslint-enable no-control-regex */
      .replace(/[ \t\u00a0]+/g, ' ')
      .replace(/ *\n */g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim()
  )
}

export async function extractPdfText(bytes: Uint8Array, options: PdfTextOptions = {}): Promise<PdfTextResult> {
  const maxPages = options.maxPages ?? 2000
  const maxChars = options.maxChars ?? 2_000_000
  if (latin1(bytes.subarray(0, 1024)).indexOf('%PDF-') < 0) throw new PdfTextUnavailable('the file is not a PDF')
  const doc = new PdfDocument(bytes, new DecodeBudget(options.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES))
  await doc.load()
  if (doc.encrypted()) {
    throw new PdfTextUnavailable(
      'the PDF is encrypted or password-protected; export an unprotected copy or paste the text',
    )
  }
  const pages = doc.pages(maxPages)
  if (pages.length === 0) throw new PdfTextUnavailable('no pages could be read; the PDF may be damaged')
  const fonts = new Map<Dict, FontDecoder>()
  const rawPages: string[] = []
  const sizes = new Map<number, number>()
  let chars = 0
  let unmapped = 0
  let mapped = 0
  let images = 0
  let unsupported = 0
  for (const { page, resources } of pages) {
    const contents = doc.resolve(page.get('Contents'))
    const streams = (Array.isArray(contents) ? contents : contents ? [contents] : [])
      .map((c) => doc.resolve(c))
      .filter((s): s is Stream => s instanceof Stream)
    const parts: Uint8Array[] = []
    for (const stream of streams) {
      try {
        parts.push(await doc.decode(stream))
      } catch (error) {
        if (error instanceof PdfTooLarge) throw error
        unsupported++
      }
    }
    // A page's content may be split across streams at any token boundary.
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0))
    let at = 0
    for (const p of parts) {
      joined.set(p, at)
      joined[at + p.length] = 10
      at += p.length + 1
    }
    const result = await pageText(doc, joined, resources, fonts)
    unmapped += result.unmapped
    mapped += result.mapped
    images += result.images
    for (const [size, count] of result.sizes) sizes.set(size, (sizes.get(size) ?? 0) + count)
    rawPages.push(result.text)
    chars += result.mapped
    if (chars >= maxChars) break
  }
  const text = markHeadings(rawPages, sizes).map(cleanText).filter(Boolean).join('\n\n').slice(0, maxChars)
  const letters = (text.match(/[\p{L}\p{N}]/gu) ?? []).length
  if (letters < 3) {
    if (unmapped > 0 && mapped === 0) {
      throw new PdfTextUnavailable(
        "the PDF's fonts carry no Unicode mapping, so its text cannot be read; export it again or paste the text",
      )
    }
    if (images > 0) {
      throw new PdfTextUnavailable(
        'the PDF has no text layer, only images (a scan?); text recognition (OCR) is not supported, so paste the text or upload a text-based PDF',
      )
    }
    if (unsupported > 0) throw new PdfTextUnavailable('the PDF uses a compression this reader does not support')
    throw new PdfTextUnavailable('the PDF contains no extractable text')
  }
  return { text, pages: pages.length }
}
