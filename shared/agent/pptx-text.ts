// The text of a PowerPoint deck (.pptx) for chunkDocument: one section per slide, in the
// deck's order, titled with the slide's title ("# Pricing", or "# Slide 3" when it has
// none), then the text of its other shapes as paragraphs and its tables as rows of cells
// joined by " | ", then its speaker notes ("Speaker notes: …"), which often hold what the
// presenter says and the slide only hints at. fflate unzips (office-zip.ts), htmlparser2
// reads the XML.

import { Parser } from 'htmlparser2'
import { OfficeFileUnreadable, readOfficeParts } from './office-zip.ts'

const PRESENTATION = 'ppt/presentation.xml'
const PRESENTATION_RELS = 'ppt/_rels/presentation.xml.rels'
const SLIDE = /^ppt\/slides\/slide(\d+)\.xml$/
const SLIDE_RELS = /^ppt\/slides\/_rels\/slide\d+\.xml\.rels$/
const NOTES = /^ppt\/notesSlides\/notesSlide\d+\.xml$/

function parseXml(xml: string, open: (name: string, attrs: Record<string, string>) => void): void {
  const parser = new Parser({ onopentag: open }, { xmlMode: true })
  parser.end(xml)
}

/** Slide part names in the order the deck shows them. */
function slideOrder(parts: Map<string, string>): string[] {
  const slides = [...parts.keys()].filter((name) => SLIDE.test(name))
  const byNumber = (a: string, b: string) => Number(SLIDE.exec(a)![1]) - Number(SLIDE.exec(b)![1])
  const targets = new Map<string, string>()
  parseXml(parts.get(PRESENTATION_RELS) ?? '', (name, attrs) => {
    if (name === 'Relationship' && attrs.Id && attrs.Target) targets.set(attrs.Id, attrs.Target)
  })
  const ordered: string[] = []
  parseXml(parts.get(PRESENTATION) ?? '', (name, attrs) => {
    const target = name === 'p:sldId' ? targets.get(attrs['r:id'] ?? '') : undefined
    const part = target && `ppt/${target.replace(/^\/?(ppt\/)?/, '')}`
    if (part && parts.has(part) && !ordered.includes(part)) ordered.push(part)
  })
  // Slides the presentation does not list (a damaged file) still count, after the others.
  return [...ordered, ...slides.filter((s) => !ordered.includes(s)).sort(byNumber)]
}

/** One slide: its title (if it has one) and its other text as blocks. */
function slideText(xml: string): { title: string; blocks: string[] } {
  let title = ''
  const blocks: string[] = []
  let shape: { title: boolean; paragraphs: string[] } | null = null
  let paragraph: string | null = null
  let inText = false
  let row: string[] | null = null
  let cell: string[] | null = null
  let rows: string[] = []
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        switch (name) {
          case 'p:sp':
            shape = { title: false, paragraphs: [] }
            break
          case 'p:ph':
            if (shape && (attrs.type === 'title' || attrs.type === 'ctrTitle')) shape.title = true
            break
          case 'a:p':
            paragraph = ''
            break
          case 'a:t':
            inText = true
            break
          case 'a:br':
            if (paragraph !== null) paragraph += '\n'
            break
          case 'a:tbl':
            rows = []
            break
          case 'a:tr':
            row = []
            break
          case 'a:tc':
            cell = []
            break
        }
      },
      ontext(data) {
        if (inText && paragraph !== null) paragraph += data
      },
      onclosetag(name) {
        switch (name) {
          case 'a:t':
            inText = false
            break
          case 'a:p': {
            const text = (paragraph ?? '').replace(/[ \t]+/g, ' ').trim()
            paragraph = null
            if (!text) break
            if (cell) cell.push(text)
            else if (shape) shape.paragraphs.push(text)
            break
          }
          case 'p:sp': {
            const done = shape as { title: boolean; paragraphs: string[] } | null
            shape = null
            if (!done?.paragraphs.length) break
            if (done.title && !title) title = done.paragraphs.join(' ').replace(/\s+/g, ' ')
            else blocks.push(done.paragraphs.join('\n'))
            break
          }
          case 'a:tc':
            if (row && cell) row.push(cell.join(' '))
            cell = null
            break
          case 'a:tr':
            if (row?.some(Boolean)) rows.push(row.join(' | '))
            row = null
            break
          case 'a:tbl':
            if (rows.length) blocks.push(rows.join('\n'))
            rows = []
            break
        }
      },
    },
    { xmlMode: true },
  )
  parser.end(xml)
  return { title, blocks }
}

/** The notes slide of a slide part, from the slide's relationships. */
function notesPartOf(slide: string, parts: Map<string, string>): string | undefined {
  const rels = parts.get(slide.replace(/slides\/(slide\d+\.xml)$/, 'slides/_rels/$1.rels'))
  let target: string | undefined
  parseXml(rels ?? '', (name, attrs) => {
    if (name === 'Relationship' && attrs.Type?.endsWith('/notesSlide') && attrs.Target) target ??= attrs.Target
  })
  if (!target) return undefined
  // Targets are relative to ppt/slides/ ("../notesSlides/notesSlide1.xml") or absolute ("/ppt/…").
  const resolved = target.startsWith('/') ? target.slice(1) : new URL(target, 'file:///ppt/slides/').pathname.slice(1)
  return NOTES.test(resolved) ? resolved : undefined
}

/** The speaker notes: the text of the notes page's body placeholder (not its slide number or image). */
function notesText(xml: string): string {
  const paragraphs: string[] = []
  let inBody = false
  let paragraph: string | null = null
  let inText = false
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name === 'p:sp') inBody = false
        else if (name === 'p:ph') inBody = attrs.type === 'body'
        else if (name === 'a:p') paragraph = ''
        else if (name === 'a:t') inText = true
        else if (name === 'a:br' && paragraph !== null) paragraph += ' '
      },
      ontext(data) {
        if (inText && paragraph !== null) paragraph += data
      },
      onclosetag(name) {
        if (name === 'a:t') inText = false
        else if (name === 'a:p') {
          const text = (paragraph ?? '').replace(/\s+/g, ' ').trim()
          if (inBody && text) paragraphs.push(text)
          paragraph = null
        }
      },
    },
    { xmlMode: true },
  )
  parser.end(xml)
  return paragraphs.join('\n')
}

/** The deck's text: a "#" section per slide with text, in the deck's order. */
export function pptxText(bytes: Uint8Array): string {
  const parts = readOfficeParts(
    bytes,
    (name) =>
      name === PRESENTATION ||
      name === PRESENTATION_RELS ||
      SLIDE.test(name) ||
      SLIDE_RELS.test(name) ||
      NOTES.test(name),
    '.pptx',
  )
  if (!parts.has(PRESENTATION))
    throw new OfficeFileUnreadable('the file is not a .pptx file (it has no presentation part)')
  const sections: string[] = []
  slideOrder(parts).forEach((part, i) => {
    const { title, blocks } = slideText(parts.get(part)!)
    const notesPart = notesPartOf(part, parts)
    const notes = notesPart ? notesText(parts.get(notesPart)!) : ''
    if (notes) blocks.push(`Speaker notes: ${notes}`)
    if (!title && !blocks.length) return
    sections.push([`# ${title || `Slide ${i + 1}`}`, ...blocks].join('\n\n'))
  })
  return sections.join('\n\n')
}
