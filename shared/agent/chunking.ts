// Passages that carry their context: a document is cut at its headings into sections,
// each section into passages of whole paragraphs (short ones merged), and a paragraph
// too long for one passage at sentence ends. Every passage keeps the titles of the
// sections it sits in ("Returns › Refunds"), which the database indexes with its text,
// so a question that names a section finds it, and a quote can say where it is from.
// ~1,200 characters per passage: long enough for recall, short enough to quote.

export interface Passage {
  content: string
  /** The section path, e.g. "Returns › Refunds"; null before the first heading. */
  heading: string | null
}

export const PASSAGE_CHARS = 1200

const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/

function sentences(paragraph: string): string[] {
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' })
  return [...segmenter.segment(paragraph)].map((s) => s.segment.trim()).filter(Boolean)
}

/** Pieces of at most maxChars: whole sentences, and a sentence too long cut at a space. */
function pieces(paragraph: string, maxChars: number): string[] {
  if (paragraph.length <= maxChars) return [paragraph]
  const out: string[] = []
  let current = ''
  for (let sentence of sentences(paragraph)) {
    while (sentence.length > maxChars) {
      if (current) out.push(current)
      current = ''
      const cut = sentence.lastIndexOf(' ', maxChars)
      const at = cut > maxChars / 2 ? cut : maxChars
      out.push(sentence.slice(0, at).trim())
      sentence = sentence.slice(at).trim()
    }
    if (current && current.length + sentence.length + 1 > maxChars) {
      out.push(current)
      current = ''
    }
    current = current ? `${current} ${sentence}` : sentence
  }
  if (current) out.push(current)
  return out
}

/** Splits a document (plain text or Markdown) into passages under their section titles. */
export function chunkDocument(text: string, maxChars = PASSAGE_CHARS): Passage[] {
  const passages: Passage[] = []
  const titles: string[] = []
  let heading: string | null = null
  let current = ''
  const flush = () => {
    if (current.trim()) passages.push({ content: current.trim(), heading })
    current = ''
  }
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n\s*\n|\n(?=#{1,6}\s)/)
  for (const block of blocks) {
    let paragraph = block.trim()
    if (!paragraph) continue
    const lines = paragraph.split('\n')
    const title = HEADING.exec(lines[0]!.trim())
    if (title) {
      flush()
      const level = title[1]!.length
      titles.length = Math.min(titles.length, level - 1)
      titles[level - 1] = title[2]!.trim()
      heading = titles.filter(Boolean).join(' › ') || null
      paragraph = lines.slice(1).join('\n').trim()
      if (!paragraph) continue
    }
    for (const piece of pieces(paragraph, maxChars)) {
      if (current && current.length + piece.length + 2 > maxChars) flush()
      current = current ? `${current}\n\n${piece}` : piece
    }
  }
  flush()
  return passages
}
