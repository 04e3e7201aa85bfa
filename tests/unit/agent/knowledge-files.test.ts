// CSV, Word and PowerPoint knowledge as the agent will quote it: passages that read on their
// own and keep their sections, and a clear reason when a file cannot be read.
import { strToU8, zipSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import { chunkDocument } from '../../../shared/agent/chunking.ts'
import { CsvUnreadable, csvPassages, hasHeaderRow, readCsv } from '../../../shared/agent/csv-passages.ts'
import { docxText } from '../../../shared/agent/docx-text.ts'
import { OfficeFileUnreadable, readOfficeParts } from '../../../shared/agent/office-zip.ts'
import { pptxText } from '../../../shared/agent/pptx-text.ts'
import { buildDocx, buildPptx } from '../../support/office-files.ts'

describe('csvPassages', () => {
  it('turns each row into header: value lines, empty cells left out', () => {
    const csv = 'Plan,Price,Seats,Notes\r\nStarter,9 €,1,\r\nPro,"29 €",5,"Priority support, phone and chat"\r\n'
    expect(csvPassages(csv)).toEqual([
      {
        content:
          'Plan: Starter\nPrice: 9 €\nSeats: 1\n\nPlan: Pro\nPrice: 29 €\nSeats: 5\nNotes: Priority support, phone and chat',
        heading: null,
      },
    ])
  })

  it('reads semicolons and tabs as separators, a byte order mark and line breaks inside quotes', () => {
    expect(csvPassages('\uFEFFProduit;Délai\nKayak;"3 jours\nouvrés"\n')[0]!.content).toBe(
      'Produit: Kayak\nDélai: 3 jours\nouvrés',
    )
    expect(csvPassages('Name\tCity\nAna\tPorto\n')[0]!.content).toBe('Name: Ana\nCity: Porto')
    expect(csvPassages('"Prix, TTC";Produit\n"9,50";Kayak\n')[0]!.content).toBe('Prix, TTC: 9,50\nProduit: Kayak')
  })

  it('groups whole rows into passages of bounded size, never splitting a row', () => {
    const rows = Array.from({ length: 60 }, (_, i) => `SKU-${i},Paddle model ${i},${10 + i} EUR`)
    const passages = csvPassages(['SKU,Name,Price', ...rows].join('\n'), 300)
    expect(passages.length).toBeGreaterThan(5)
    for (const p of passages) {
      expect(p.content.length).toBeLessThanOrEqual(300)
      for (const record of p.content.split('\n\n'))
        expect(record).toMatch(/^SKU: SKU-\d+\nName: Paddle model \d+\nPrice: \d+ EUR$/)
    }
    expect(passages.map((p) => p.content.split('\n\n').length).reduce((a, b) => a + b)).toBe(60)
  })

  it('names missing headers and keeps cells beyond the header', () => {
    expect(csvPassages('Name,\nAna,Porto,extra\n')[0]!.content).toBe('Name: Ana\nColumn 2: Porto\nColumn 3: extra')
  })

  it('reads a file without a header row as data: every row a passage of numbered columns', () => {
    // A price list exported without its header: the first row is a product like the others.
    const prices = 'Kayak,29 €,in stock\nPaddle,9 €,low\nHelmet,15 €,in stock\n'
    expect(hasHeaderRow(readCsv(prices))).toBe(false)
    expect(csvPassages(prices)[0]!.content).toBe(
      'Column 1: Kayak\nColumn 2: 29 €\nColumn 3: in stock\n\n' +
        'Column 1: Paddle\nColumn 2: 9 €\nColumn 3: low\n\n' +
        'Column 1: Helmet\nColumn 2: 15 €\nColumn 3: in stock',
    )
    // Questions and answers with no header: the first question is searchable like the rest.
    const faq =
      'How do I reset my password?,Click “Forgot password” on the sign-in page.\n' +
      'Can I pay by invoice?,Yes: yearly plans can be paid by bank transfer.\n'
    const passages = csvPassages(faq)
    expect(passages.map((p) => p.content).join('\n\n')).toContain(
      'Column 1: How do I reset my password?\nColumn 2: Click “Forgot password” on the sign-in page.',
    )
    // Dates and amounts under a header row still read as a header.
    expect(hasHeaderRow(readCsv('Date;Amount\n2024-05-01;12.50\n2024-05-02;9.00\n'))).toBe(true)
    expect(hasHeaderRow(readCsv('2024-05-01;12.50\n2024-05-02;9.00\n'))).toBe(false)
  })

  it('follows what the source says about its header over the guess', () => {
    expect(csvPassages('Kayak,29 €\nPaddle,9 €\n', undefined, true)[0]!.content).toBe('Kayak: Paddle\n29 €: 9 €')
    expect(csvPassages('Plan,Price\nPro,29\n', undefined, false)[0]!.content).toBe(
      'Column 1: Plan\nColumn 2: Price\n\nColumn 1: Pro\nColumn 2: 29',
    )
  })

  it('refuses malformed files with the reason', () => {
    expect(() => csvPassages('Name,Note\nAna,"never closed\n')).toThrow(CsvUnreadable)
    expect(() => csvPassages('Name,Note\nAna,"never closed\n')).toThrow(/Quote Not Closed/)
    expect(() => csvPassages('Name,Note\n')).toThrow('the file has a header row but no data rows')
    expect(() => csvPassages('')).toThrow('the file has no rows')
    expect(() => csvPassages('PK\u0003\u0004\u0000\u0000binary')).toThrow('the file is not text')
  })
})

describe('docxText', () => {
  it('reads paragraphs, headings, lists and tables, with words split across runs kept whole', () => {
    const docx = buildDocx([
      { heading: 1, text: 'Warranty' },
      { text: 'Claims need the rec', bold: 'eipt' },
      { text: 'Keep the box & the serial number.' },
      { heading: 2, text: 'Café bikes' },
      { text: 'Frames: 5 years.', list: true },
      { text: 'Wheels: 2 years.', list: true },
      {
        table: [
          ['Part', 'Cover'],
          ['Chain', '6 months'],
        ],
      },
    ])
    const text = docxText(docx)
    expect(text).toBe(
      [
        '# Warranty',
        'Claims need the receipt',
        'Keep the box & the serial number.',
        '## Café bikes',
        '- Frames: 5 years.\n- Wheels: 2 years.',
        'Part | Cover\nChain | 6 months',
      ].join('\n\n'),
    )
    expect(chunkDocument(text)).toEqual([
      { content: 'Claims need the receipt\n\nKeep the box & the serial number.', heading: 'Warranty' },
      {
        content: '- Frames: 5 years.\n- Wheels: 2 years.\n\nPart | Cover\nChain | 6 months',
        heading: 'Warranty › Café bikes',
      },
    ])
  })

  it('makes footnotes, endnotes, page headers and footers searchable passages of their own', () => {
    const docx = buildDocx(
      [
        { heading: 1, text: 'Warranty' },
        { text: 'Every kayak has a two-year warranty.', footnote: 'Water damage from misuse is excluded.' },
        { text: 'Paddles are covered for one year.', footnote: 'Only carbon paddles; wooden ones have none.' },
        { heading: 1, text: 'Returns' },
        { text: 'Unused items can be returned within 30 days.', endnote: 'Sale items are final.' },
      ],
      { header: 'Harbour Kayaks — customer policy', footer: 'Valid from 1 May 2025. Questions: help@example.com' },
    )
    const text = docxText(docx)
    expect(text).toBe(
      [
        '# Warranty',
        'Every kayak has a two-year warranty.[1]',
        'Paddles are covered for one year.[2]',
        '# Returns',
        'Unused items can be returned within 30 days.[E1]',
        '# Footnotes',
        '[1] Water damage from misuse is excluded.',
        '[2] Only carbon paddles; wooden ones have none.',
        '# Endnotes',
        '[E1] Sale items are final.',
        '# Page headers and footers',
        'Harbour Kayaks — customer policy',
        'Valid from 1 May 2025. Questions: help@example.com',
      ].join('\n\n'),
    )
    // What a user searching "water damage" or "valid from" finds: a passage holding it, under its section.
    const passages = chunkDocument(text)
    const holding = (words: string) => passages.find((p) => p.content.includes(words))
    expect(holding('Water damage from misuse')?.heading).toBe('Footnotes')
    expect(holding('Sale items are final')?.heading).toBe('Endnotes')
    expect(holding('Valid from 1 May 2025')?.heading).toBe('Page headers and footers')
    expect(holding('two-year warranty')?.heading).toBe('Warranty')
  })

  it('refuses what is not a readable .docx, saying why', () => {
    const fail = (bytes: Uint8Array) => {
      try {
        docxText(bytes)
      } catch (error) {
        expect(error).toBeInstanceOf(OfficeFileUnreadable)
        return (error as Error).message
      }
      throw new Error('accepted')
    }
    expect(fail(strToU8('just some text'))).toBe('the file is not a .docx file')
    expect(fail(strToU8('PK\u0003\u0004 truncated'))).toMatch(/^the file is not a \.docx file \(its zip structure/)
    expect(fail(zipSync({ 'notes.txt': strToU8('hello') }))).toBe(
      'the file is not a .docx file (it has no document part)',
    )
    expect(fail(new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]))).toMatch(/password-protected/)
  })

  it('refuses a file that would unpack to more text than the budget, before unpacking it', () => {
    const bomb = zipSync({ 'word/document.xml': new Uint8Array(2 * 1024 * 1024) }, { level: 9 })
    expect(bomb.length).toBeLessThan(10_000)
    // Against a 1 MB budget (the real one is 48 MB): refused, and within it, read.
    expect(() => readOfficeParts(bomb, () => true, '.docx', 1024 * 1024)).toThrow(
      'the file unpacks to more than 1 MB of text',
    )
    expect(readOfficeParts(bomb, () => true, '.docx', 4 * 1024 * 1024).get('word/document.xml')).toHaveLength(
      2 * 1024 * 1024,
    )
  })
})

describe('pptxText', () => {
  it('gives each slide a section in the deck’s order, titled by its title', () => {
    const deck = buildPptx([
      { title: 'Pricing', body: ['Starter is 9 € a month.', 'Pro is 29 €.'] },
      { body: ['Questions? Write to help@example.com'] },
      {
        title: 'Plans compared',
        table: [
          ['Plan', 'Seats'],
          ['Pro', '5'],
        ],
      },
    ])
    const text = pptxText(deck)
    expect(text).toBe(
      [
        '# Pricing',
        'Starter is 9 € a month.\nPro is 29 €.',
        '# Slide 2',
        'Questions? Write to help@example.com',
        '# Plans compared',
        'Plan | Seats\nPro | 5',
      ].join('\n\n'),
    )
    expect(chunkDocument(text).map((p) => p.heading)).toEqual(['Pricing', 'Slide 2', 'Plans compared'])
  })

  it('keeps each slide’s speaker notes with that slide, without the notes page’s slide number', () => {
    const deck = buildPptx([
      { title: 'Pricing', body: ['Starter is 9 € a month.'], notes: ['Mention the yearly discount: two months free.'] },
      { title: 'Support', body: ['Chat and email.'] },
      { title: 'Roadmap', notes: ['Offline maps ship in June.', 'Do not promise a date for Android.'] },
    ])
    const text = pptxText(deck)
    expect(text).toBe(
      [
        '# Pricing',
        'Starter is 9 € a month.',
        'Speaker notes: Mention the yearly discount: two months free.',
        '# Support',
        'Chat and email.',
        '# Roadmap',
        'Speaker notes: Offline maps ship in June.\nDo not promise a date for Android.',
      ].join('\n\n'),
    )
    const passages = chunkDocument(text)
    expect(passages.find((p) => p.content.includes('yearly discount'))?.heading).toBe('Pricing')
    expect(passages.find((p) => p.content.includes('Offline maps ship in June'))?.heading).toBe('Roadmap')
  })

  it('refuses a Word file or a damaged zip given as a deck', () => {
    expect(() => pptxText(buildDocx([{ text: 'hello' }]))).toThrow(
      'the file is not a .pptx file (it has no presentation part)',
    )
    expect(() => pptxText(strToU8('%PDF-1.4'))).toThrow('the file is not a .pptx file')
  })
})
