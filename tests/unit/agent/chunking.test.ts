import { describe, expect, it } from 'vitest'
import { chunkDocument } from '../../../shared/agent/chunking.ts'
import { htmlToText } from '../../../shared/agent/html-text.ts'

describe('chunkDocument', () => {
  it('keeps each passage under its section titles', () => {
    const doc = [
      'Welcome to our help centre.',
      '# Returns',
      'You can return any item within 30 days.',
      '## Refunds',
      'Refunds are paid to the original card within 5 business days.',
      '# Shipping',
      'We ship to the EU and the UK.',
    ].join('\n\n')
    const passages = chunkDocument(doc, 80)
    expect(passages).toEqual([
      { content: 'Welcome to our help centre.', heading: null },
      { content: 'You can return any item within 30 days.', heading: 'Returns' },
      { content: 'Refunds are paid to the original card within 5 business days.', heading: 'Returns › Refunds' },
      { content: 'We ship to the EU and the UK.', heading: 'Shipping' },
    ])
  })

  it('merges short paragraphs and cuts a long one at sentence ends, never mid-sentence', () => {
    const sentence = (i: number) => `Sentence number ${i} says one thing about the product.`
    const long = Array.from({ length: 40 }, (_, i) => sentence(i)).join(' ')
    const passages = chunkDocument(`Short one.\n\nShort two.\n\n${long}`, 300)
    expect(passages[0]!.content.startsWith('Short one.\n\nShort two.\n\nSentence number 0')).toBe(true)
    for (const p of passages) {
      expect(p.content.length).toBeLessThanOrEqual(300)
      expect(p.content).toMatch(/\.$/)
    }
    const rejoined = passages.map((p) => p.content).join(' ')
    expect(rejoined.replace(/\s+/g, ' ')).toBe(`Short one. Short two. ${long}`)
    expect(passages.length).toBeGreaterThan(5)
  })

  it('keeps HTML headings as section titles', () => {
    const text = htmlToText('<h1>Billing</h1><p>Invoices are sent monthly.</p><h2>VAT</h2><p>Prices include VAT.</p>')
    expect(chunkDocument(text)).toEqual([
      { content: 'Invoices are sent monthly.', heading: 'Billing' },
      { content: 'Prices include VAT.', heading: 'Billing › VAT' },
    ])
  })
})
