// PDF text extraction without native dependencies: a real browser-made PDF (Chromium's
// print to PDF: Type0 fonts with ToUnicode CMaps, FlateDecode, kerning by Td) and small
// hand-built PDFs for the other shapes (simple fonts, TJ gaps, object streams, several
// pages), and clear refusals for scans, encryption, unmapped fonts and non-PDFs.
import { readFileSync } from 'node:fs'
import { createDeflate, deflateSync } from 'node:zlib'
import { describe, expect, test } from 'vitest'
import { chunkDocument } from '../../../shared/agent/chunking.ts'
import { extractPdfText, PdfTextUnavailable } from '../../../shared/agent/pdf-text.ts'

/** A minimal PDF with a proper xref from numbered objects (bodies as latin1 strings or stream parts). */
function buildPdf(
  objects: Array<null | string | { dict: string; data: Uint8Array | string; deflate?: boolean }>,
  trailerExtra = '',
): Uint8Array {
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')]
  const offsets: number[] = []
  let length = parts[0]!.length
  objects.forEach((obj, i) => {
    offsets.push(obj === null ? -1 : length)
    if (obj === null) return // stored in an object stream
    let chunk: Buffer
    if (typeof obj === 'string') chunk = Buffer.from(`${i + 1} 0 obj\n${obj}\nendobj\n`, 'latin1')
    else {
      const raw = typeof obj.data === 'string' ? Buffer.from(obj.data, 'latin1') : Buffer.from(obj.data)
      const data = obj.deflate === false ? raw : deflateSync(raw)
      const filter = obj.deflate === false ? '' : ' /Filter /FlateDecode'
      chunk = Buffer.concat([
        Buffer.from(`${i + 1} 0 obj\n<< ${obj.dict}${filter} /Length ${data.length} >>\nstream\n`, 'latin1'),
        data,
        Buffer.from('\nendstream\nendobj\n', 'latin1'),
      ])
    }
    parts.push(chunk)
    length += chunk.length
  })
  const xref =
    `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n` +
    offsets.map((o) => (o < 0 ? '0000000000 00001 f \n' : `${String(o).padStart(10, '0')} 00000 n \n`)).join('') +
    `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${trailerExtra} >>\nstartxref\n${length}\n%%EOF\n`
  parts.push(Buffer.from(xref, 'latin1'))
  return new Uint8Array(Buffer.concat(parts))
}

const helvetica = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>'

describe('extractPdfText', () => {
  test('reads a browser-made PDF (Type0 fonts, ToUnicode, kerning moves) as lines and paragraphs', async () => {
    const bytes = new Uint8Array(readFileSync(new URL('./fixtures/returns-policy-chromium.pdf', import.meta.url)))
    const { text, pages } = await extractPdfText(bytes)
    expect(pages).toBe(1)
    expect(text).toContain('Konstruct Returns Policy')
    expect(text).toContain('Customers may return unused items within 45 days of delivery for a full refund.')
    expect(text).toContain('Warranty claims are handled by the support team')
    expect(text).toContain('open Tuesday to Saturday, 8:00–16:00. Café Ünïcode façade — “quoted”')
    expect(text.split('\n\n').length).toBeGreaterThanOrEqual(4)
  })

  test('headings (text set larger than the body) become the sections of the passages', async () => {
    const bytes = new Uint8Array(readFileSync(new URL('./fixtures/returns-policy-chromium.pdf', import.meta.url)))
    const { text } = await extractPdfText(bytes)
    expect(text.split('\n').filter((line) => line.startsWith('#'))).toEqual([
      '# Konstruct Returns Policy',
      '## Opening hours',
    ])
    expect(chunkDocument(text).map((p) => [p.heading, p.content.slice(0, 30)])).toEqual([
      ['Konstruct Returns Policy', 'Customers may return unused it'],
      ['Konstruct Returns Policy › Opening hours', 'The Lisbon warehouse is open T'],
    ])
  })

  test('a heading wrapped over two lines is one heading; a document in one size has none', async () => {
    const page = [
      'BT /F1 20 Tf 72 720 Td (Returns and refunds for) Tj 0 -22 Td (online orders) Tj',
      '/F1 10 Tf 0 -30 Td (Unused items can be sent back within thirty days of delivery.) Tj',
      '0 -12 Td (Refunds reach the original card within a week.) Tj',
      '/F1 14 Tf 0 -30 Td (Exchanges) Tj /F1 10 Tf 0 -20 Td (Sizes can be swapped once, free of charge.) Tj ET',
    ].join('\n')
    const pdf = (content: string) =>
      buildPdf([
        '<< /Type /Catalog /Pages 2 0 R >>',
        '<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >>',
        '<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>',
        helvetica,
        { dict: '', data: content },
      ])
    expect((await extractPdfText(pdf(page))).text).toBe(
      [
        '# Returns and refunds for online orders',
        'Unused items can be sent back within thirty days of delivery.\nRefunds reach the original card within a week.',
        '## Exchanges',
        'Sizes can be swapped once, free of charge.',
      ].join('\n\n'),
    )
    const plain = page.replace(/\/F1 (20|14) Tf/g, '/F1 10 Tf')
    expect((await extractPdfText(pdf(plain))).text).not.toContain('#')
  })

  test('simple fonts: literal strings with escapes, TJ word gaps, line moves, two pages', async () => {
    const page1 = [
      'BT /F1 12 Tf 72 720 Td (Refunds \\(full\\) within 30 days.) Tj',
      '0 -14 Td [(Pay)-20(ment)-400(back)] TJ',
      "(caf\\351 \\\\ done) '",
      'ET',
    ].join('\n')
    const page2 = 'BT /F1 12 Tf 1 0 0 1 72 720 Tm <48656c6c6f> Tj 0 -40 Td (Second paragraph.) Tj ET'
    const bytes = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /Resources << /Font << /F1 5 0 R >> >> >>',
      '<< /Type /Page /Parent 2 0 R /Contents 6 0 R >>',
      '<< /Type /Page /Parent 2 0 R /Contents [7 0 R] >>',
      helvetica,
      { dict: '', data: `12 TL\n${page1}` },
      { dict: '', data: page2, deflate: false },
    ])
    const { text, pages } = await extractPdfText(bytes)
    expect(pages).toBe(2)
    expect(text).toBe('Refunds (full) within 30 days.\nPayment back\ncafé \\ done\n\nHello\n\nSecond paragraph.')
  })

  test('fonts from an object stream, Differences encodings and a form XObject', async () => {
    const font5 =
      '<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Differences [65 /bullet /quoteright] >> >>'
    const objstmBody = `5 0 6 ${font5.length + 1} ` // object 5 at offset 0, object 6 right after it
    const form = '<< /Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << /Font << /F2 6 0 R >> >> >>'
    const body = `${objstmBody}${font5} ${helvetica}`
    const bytes = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /Fm1 8 0 R >> >> >>',
      { dict: '', data: 'BT /F1 11 Tf 10 700 Td (A It) Tj (Bs fine) Tj ET /Fm1 Do' },
      null,
      null,
      { dict: `/Type /ObjStm /N 2 /First ${objstmBody.length}`, data: body },
      { dict: form.slice(3, -3), data: 'BT /F2 9 Tf 0 0 Td (Inside a form.) Tj ET' },
    ])
    const { text } = await extractPdfText(bytes)
    expect(text).toBe('\u2022 It\u2019s fine\nInside a form.')
  })

  test('a scanned PDF (an image, no text) is refused with a reason about OCR', async () => {
    const bytes = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /XObject << /Im1 5 0 R >> >> >>',
      { dict: '', data: 'q 612 0 0 792 0 0 cm /Im1 Do Q' },
      {
        dict: '/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8',
        data: '\x80',
      },
    ])
    await expect(extractPdfText(bytes)).rejects.toThrow(/no text layer.*OCR/)
  })

  test('encrypted PDFs, fonts without a Unicode mapping and other files are refused clearly', async () => {
    const encrypted = buildPdf(
      ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [] /Count 0 >>', '<< /Filter /Standard /V 2 >>'],
      '/Encrypt 3 0 R',
    )
    await expect(extractPdfText(encrypted)).rejects.toThrow(/encrypted/)

    const unmapped = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
      { dict: '', data: 'BT /F1 12 Tf 72 720 Td <00410042> Tj ET' },
      '<< /Type /Font /Subtype /Type0 /BaseFont /Subset /Encoding /Identity-H /DescendantFonts [] >>',
    ])
    await expect(extractPdfText(unmapped)).rejects.toThrow(/no Unicode mapping/)

    await expect(extractPdfText(new TextEncoder().encode('hello, not a pdf'))).rejects.toBeInstanceOf(
      PdfTextUnavailable,
    )
  })

  test('a decompression bomb is refused within the budget, not inflated into memory', async () => {
    // 64 MB of spaces after one line of text deflate to about 64 KB; the budget is 48 MB.
    const deflated = await new Promise<Buffer>((resolve, reject) => {
      const deflate = createDeflate({ level: 9 })
      const out: Buffer[] = []
      deflate.on('data', (chunk: Buffer) => out.push(chunk))
      deflate.on('end', () => resolve(Buffer.concat(out)))
      deflate.on('error', reject)
      deflate.write('BT /F1 12 Tf 72 720 Td (Hello from the bomb.) Tj ET\n')
      const spaces = Buffer.alloc(1024 * 1024, 0x20)
      for (let i = 0; i < 64; i++) deflate.write(spaces)
      deflate.end()
    })
    expect(deflated.length).toBeLessThan(1024 * 1024)
    const bytes = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >>',
      '<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>',
      helvetica,
      { dict: '/Filter /FlateDecode', data: deflated, deflate: false },
    ])
    await expect(extractPdfText(bytes)).rejects.toThrow(/expands to too much data/)
    // The same document under a budget it fits in reads normally.
    const small = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >>',
      '<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>',
      helvetica,
      { dict: '', data: 'BT /F1 12 Tf 72 720 Td (Hello from the bomb.) Tj ET\n' + ' '.repeat(200_000) },
    ])
    expect((await extractPdfText(small, { maxDecodedBytes: 1024 * 1024 })).text).toBe('Hello from the bomb.')
    await expect(extractPdfText(small, { maxDecodedBytes: 100_000 })).rejects.toBeInstanceOf(PdfTextUnavailable)
  }, 120_000)
})
