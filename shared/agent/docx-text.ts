// The text of a Word document (.docx) as Markdown-like text for chunkDocument: paragraphs
// as blocks, headings (the "Heading 1–6" and "Title" styles, or an outline level) as
// "#" headings so passages keep their sections, list items with "- ", and a table's rows
// as lines of cells joined by " | ". fflate unzips (office-zip.ts) and htmlparser2 reads
// the XML (entities, namespaces); this file only knows WordprocessingML's few elements.
// Footnotes and endnotes are marked where they are referenced ("[1]", "[E1]") and follow
// the body as sections of their own ("# Footnotes": "[1] …"), numbered in the order the
// body cites them, as Word shows them; the text of page headers and footers (each line
// once) closes the document as "# Page headers and footers", so a policy's "Valid from
// 1 May" in a footer is searchable too.
// mammoth, the usual converter, is not used: it sets __proto__, which Deno removes.

import { Parser } from 'htmlparser2'
import { OfficeFileUnreadable, readOfficeParts } from './office-zip.ts'

const DOCUMENT = 'word/document.xml'
const STYLES = 'word/styles.xml'
const FOOTNOTES = 'word/footnotes.xml'
const ENDNOTES = 'word/endnotes.xml'
const HEADER_OR_FOOTER = /^word\/(header|footer)\d*\.xml$/

type NoteKind = 'footnote' | 'endnote'

interface Note {
  kind: NoteKind
  id: string
  /** separator and continuation notes are Word's lines between body and notes, not text. */
  type: string
  blocks: string[]
}

/** Heading level by paragraph style id, from the style names in styles.xml. */
function headingStyles(stylesXml: string | undefined): Map<string, number> {
  const levels = new Map<string, number>()
  if (!stylesXml) return levels
  let styleId: string | null = null
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name === 'w:style') styleId = attrs['w:styleId'] ?? null
        else if (styleId && name === 'w:name') {
          const styleName = (attrs['w:val'] ?? '').toLowerCase()
          const heading = /^heading\s*([1-6])$/.exec(styleName)
          if (heading) levels.set(styleId, Number(heading[1]))
          else if (styleName === 'title') levels.set(styleId, 1)
        } else if (styleId && name === 'w:outlineLvl' && !levels.has(styleId)) {
          const level = Number(attrs['w:val'])
          if (level >= 0 && level < 6) levels.set(styleId, level + 1)
        }
      },
      onclosetag(name) {
        if (name === 'w:style') styleId = null
      },
    },
    { xmlMode: true },
  )
  parser.end(stylesXml)
  return levels
}

/**
 * The blocks of one WordprocessingML part (the body, a header, the notes): paragraphs,
 * "#" headings, list items, tables. Notes come back apart from the blocks, with theirs.
 */
function readWordPart(
  xml: string,
  styles: Map<string, number>,
  noteMarker: (kind: NoteKind, id: string) => string = () => '',
): { blocks: string[]; notes: Note[] } {
  const blocks: string[] = []
  const notes: Note[] = []
  let note: { kind: NoteKind; id: string; type: string; start: number } | null = null
  // Paragraphs being read (a text box's paragraphs sit inside another paragraph).
  const paragraphs: { text: string; level: number; listItem: boolean }[] = []
  const add = (more: string) => {
    const paragraph = paragraphs.at(-1)
    if (paragraph) paragraph.text += more
  }
  // Tables (nested ones too): rows of cells of paragraphs.
  const tables: { rows: string[][]; cells: string[] | null; cell: string[] | null }[] = []
  let inText = false
  // Text boxes come twice (a modern form and a fallback for old readers); the fallback is skipped.
  let fallbackDepth = 0

  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name === 'mc:Fallback') fallbackDepth++
        if (fallbackDepth > 0) return
        switch (name) {
          case 'w:p':
            paragraphs.push({ text: '', level: 0, listItem: false })
            break
          case 'w:pStyle': {
            const paragraph = paragraphs.at(-1)
            if (paragraph) paragraph.level = styles.get(attrs['w:val'] ?? '') ?? paragraph.level
            break
          }
          case 'w:outlineLvl': {
            const outline = Number(attrs['w:val'])
            const paragraph = paragraphs.at(-1)
            if (paragraph && outline >= 0 && outline < 6) paragraph.level = outline + 1
            break
          }
          case 'w:numPr':
            if (paragraphs.at(-1)) paragraphs.at(-1)!.listItem = true
            break
          case 'w:t':
            inText = true
            break
          case 'w:tab':
            add('\t')
            break
          case 'w:br':
          case 'w:cr':
            add('\n')
            break
          case 'w:tbl':
            tables.push({ rows: [], cells: null, cell: null })
            break
          case 'w:tr':
            if (tables.at(-1)) tables.at(-1)!.cells = []
            break
          case 'w:tc':
            if (tables.at(-1)) tables.at(-1)!.cell = []
            break
          case 'w:footnote':
          case 'w:endnote':
            note = {
              kind: name === 'w:footnote' ? 'footnote' : 'endnote',
              id: attrs['w:id'] ?? '',
              type: attrs['w:type'] ?? 'normal',
              start: blocks.length,
            }
            break
          case 'w:footnoteReference':
            add(noteMarker('footnote', attrs['w:id'] ?? ''))
            break
          case 'w:endnoteReference':
            add(noteMarker('endnote', attrs['w:id'] ?? ''))
            break
        }
      },
      ontext(data) {
        if (inText && fallbackDepth === 0) add(data)
      },
      onclosetag(name) {
        if (name === 'mc:Fallback') {
          fallbackDepth--
          return
        }
        if (fallbackDepth > 0) return
        const table = tables.at(-1)
        switch (name) {
          case 'w:t':
            inText = false
            break
          case 'w:p': {
            const { text, level, listItem } = paragraphs.pop() ?? { text: '', level: 0, listItem: false }
            const paragraph = text.replace(/[ \t]+/g, ' ').trim()
            if (!paragraph) break
            if (table?.cell) table.cell.push(paragraph)
            else if (level) blocks.push(`${'#'.repeat(level)} ${paragraph.replace(/\s+/g, ' ')}`)
            else blocks.push(listItem ? `- ${paragraph}` : paragraph)
            break
          }
          case 'w:tc':
            if (table?.cell && table.cells) table.cells.push(table.cell.join(' '))
            if (table) table.cell = null
            break
          case 'w:tr':
            if (table?.cells?.some(Boolean)) table.rows.push(table.cells)
            if (table) table.cells = null
            break
          case 'w:tbl': {
            tables.pop()
            const rows = table?.rows.map((cells) => cells.join(' | ')) ?? []
            if (!rows.length) break
            // A table inside a table cell becomes part of that cell's text.
            const outer = tables.at(-1)
            if (outer?.cell) outer.cell.push(rows.join('; '))
            else blocks.push(rows.join('\n'))
            break
          }
          case 'w:footnote':
          case 'w:endnote':
            if (note) notes.push({ kind: note.kind, id: note.id, type: note.type, blocks: blocks.splice(note.start) })
            note = null
            break
        }
      },
    },
    { xmlMode: true },
  )
  parser.end(xml)
  return { blocks, notes }
}

/** The document's text: blocks separated by blank lines, headings as "#" lines. */
export function docxText(bytes: Uint8Array): string {
  const parts = readOfficeParts(
    bytes,
    (name) =>
      name === DOCUMENT || name === STYLES || name === FOOTNOTES || name === ENDNOTES || HEADER_OR_FOOTER.test(name),
    '.docx',
  )
  const document = parts.get(DOCUMENT)
  if (document === undefined) throw new OfficeFileUnreadable('the file is not a .docx file (it has no document part)')
  const styles = headingStyles(parts.get(STYLES))

  // Notes are numbered in the order the body first cites them.
  const numbers: Record<NoteKind, Map<string, number>> = { footnote: new Map(), endnote: new Map() }
  const numberOf = (kind: NoteKind, id: string) => {
    const seen = numbers[kind]
    if (!seen.has(id)) seen.set(id, seen.size + 1)
    return `[${kind === 'endnote' ? 'E' : ''}${seen.get(id)}]`
  }
  const blocks = [...readWordPart(document, styles, numberOf).blocks]

  for (const [part, kind, title] of [
    [FOOTNOTES, 'footnote', 'Footnotes'],
    [ENDNOTES, 'endnote', 'Endnotes'],
  ] as const) {
    const xml = parts.get(part)
    if (!xml) continue
    const notes = readWordPart(xml, styles)
      .notes.filter((n) => n.kind === kind && n.type === 'normal' && n.blocks.length)
      .map((n) => ({ number: numbers[kind].get(n.id) ?? Infinity, n }))
      .sort((a, b) => (a.number === b.number ? 0 : a.number < b.number ? -1 : 1))
    const lines = notes.map(({ n }) => `${numberOf(kind, n.id)} ${n.blocks.join(' ').replace(/^#+ /gm, '')}`)
    if (lines.length) blocks.push(`# ${title}`, ...lines)
  }

  const margins = [...parts.keys()]
    .filter((name) => HEADER_OR_FOOTER.test(name))
    // Headers before footers, each in their numbering.
    .sort((a, b) => Number(a.includes('footer')) - Number(b.includes('footer')) || a.localeCompare(b))
    .flatMap((name) => readWordPart(parts.get(name)!, styles).blocks)
  const unique = [...new Set(margins.map((b) => b.replace(/^#+ /, '')))]
  if (unique.length) blocks.push('# Page headers and footers', ...unique)

  // Consecutive list items stay one block, as in Markdown.
  return blocks.join('\n\n').replace(/^(- .*)\n\n(?=- )/gm, '$1\n')
}
