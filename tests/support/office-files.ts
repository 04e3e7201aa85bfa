// Small but real Word (.docx) and PowerPoint (.pptx) files, zipped with fflate from the XML
// parts Office writes (content types, relationships, the document or the slides), so the
// readers are tested on the format itself rather than on a fixture nobody can read.
import { strToU8, zipSync } from 'fflate'

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
const P = `xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="${REL}"`

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export type DocxBlock =
  | { heading: 1 | 2 | 3; text: string }
  | { text: string; bold?: string; list?: boolean; footnote?: string; endnote?: string }
  | { table: string[][] }

/** Page header and footer text, on every page as Word repeats them. */
export interface DocxMargins {
  header?: string
  footer?: string
}

/** A run of text; `bold` is appended in a bold run right after it, with no space. */
function runs(text: string, bold?: string): string {
  const plain = `<w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r>`
  return bold ? `${plain}<w:r><w:rPr><w:b/></w:rPr><w:t>${escapeXml(bold)}</w:t></w:r>` : plain
}

/** The notes a body cites, by kind, with the ids Word gives them (1, 2 …; -1 and 0 are separators). */
function notesOf(blocks: DocxBlock[], kind: 'footnote' | 'endnote'): string[] {
  return blocks.flatMap((b) => ('text' in b && !('heading' in b) && b[kind] ? [b[kind]!] : []))
}

function notesXml(kind: 'footnote' | 'endnote', texts: string[]): string {
  const separators = `<w:${kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:${kind}><w:${kind} w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:${kind}>`
  const notes = texts
    .map((text, i) => `<w:${kind} w:id="${i + 1}"><w:p><w:r><w:${kind}Ref/></w:r>${runs(` ${text}`)}</w:p></w:${kind}>`)
    .join('')
  return `${XML}<w:${kind}s ${W}>${separators}${notes}</w:${kind}s>`
}

function docxBody(blocks: DocxBlock[]): string {
  const next = { footnote: 0, endnote: 0 }
  const reference = (kind: 'footnote' | 'endnote') => `<w:r><w:${kind}Reference w:id="${++next[kind]}"/></w:r>`
  return blocks
    .map((block) => {
      if ('heading' in block)
        return `<w:p><w:pPr><w:pStyle w:val="Heading${block.heading}"/></w:pPr>${runs(block.text)}</w:p>`
      if ('table' in block)
        return `<w:tbl>${block.table
          .map((row) => `<w:tr>${row.map((cell) => `<w:tc><w:p>${runs(cell)}</w:p></w:tc>`).join('')}</w:tr>`)
          .join('')}</w:tbl>`
      const list = block.list ? '<w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr>' : ''
      const notes = (block.footnote ? reference('footnote') : '') + (block.endnote ? reference('endnote') : '')
      return `<w:p>${list}${runs(block.text, block.bold)}${notes}</w:p>`
    })
    .join('')
}

export function buildDocx(blocks: DocxBlock[], margins: DocxMargins = {}): Uint8Array {
  const styles = [1, 2, 3]
    .map((n) => `<w:style w:type="paragraph" w:styleId="Heading${n}"><w:name w:val="heading ${n}"/></w:style>`)
    .join('')
  const parts: Record<string, string> = {}
  const rels: string[] = [`<Relationship Id="rId1" Type="${REL}/styles" Target="styles.xml"/>`]
  const footnotes = notesOf(blocks, 'footnote')
  const endnotes = notesOf(blocks, 'endnote')
  if (footnotes.length) {
    parts['word/footnotes.xml'] = notesXml('footnote', footnotes)
    rels.push(`<Relationship Id="rId2" Type="${REL}/footnotes" Target="footnotes.xml"/>`)
  }
  if (endnotes.length) {
    parts['word/endnotes.xml'] = notesXml('endnote', endnotes)
    rels.push(`<Relationship Id="rId3" Type="${REL}/endnotes" Target="endnotes.xml"/>`)
  }
  let sectionRefs = ''
  for (const [kind, text, id] of [
    ['header', margins.header, 'rId4'],
    ['footer', margins.footer, 'rId5'],
  ] as const) {
    if (!text) continue
    const tag = kind === 'header' ? 'hdr' : 'ftr'
    parts[`word/${kind}1.xml`] = `${XML}<w:${tag} ${W} xmlns:r="${REL}"><w:p>${runs(text)}</w:p></w:${tag}>`
    rels.push(`<Relationship Id="${id}" Type="${REL}/${kind}" Target="${kind}1.xml"/>`)
    sectionRefs += `<w:${kind}Reference w:type="default" r:id="${id}"/>`
  }
  const section = sectionRefs ? `<w:sectPr>${sectionRefs}</w:sectPr>` : ''
  return zipSync({
    '[Content_Types].xml': strToU8(
      `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>`,
    ),
    '_rels/.rels': strToU8(
      `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${REL}/officeDocument" Target="word/document.xml"/></Relationships>`,
    ),
    'word/_rels/document.xml.rels': strToU8(
      `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels.join('')}</Relationships>`,
    ),
    'word/styles.xml': strToU8(`${XML}<w:styles ${W}>${styles}</w:styles>`),
    'word/document.xml': strToU8(
      `${XML}<w:document ${W} xmlns:r="${REL}"><w:body>${docxBody(blocks)}${section}</w:body></w:document>`,
    ),
    ...Object.fromEntries(Object.entries(parts).map(([name, xml]) => [name, strToU8(xml)])),
  })
}

export interface Slide {
  title?: string
  body?: string[]
  table?: string[][]
  /** Speaker notes, one paragraph each. */
  notes?: string[]
}

/** A notes page as PowerPoint writes it: the slide's image, the notes body and the slide number. */
function notesSlideXml(notes: string[], slideNumber: number): string {
  const shape = (placeholder: string, body: string) =>
    `<p:sp><p:nvSpPr><p:cNvPr id="2" name="Shape"/><p:cNvSpPr/><p:nvPr>${placeholder}</p:nvPr></p:nvSpPr>${body}</p:sp>`
  const paragraphs = (texts: string[]) =>
    `<p:txBody><a:bodyPr/>${texts.map((t) => `<a:p><a:r><a:t>${escapeXml(t)}</a:t></a:r></a:p>`).join('')}</p:txBody>`
  return `${XML}<p:notes ${P}><p:cSld><p:spTree>${shape('<p:ph type="sldImg"/>', '')}${shape(
    '<p:ph type="body" idx="1"/>',
    paragraphs(notes),
  )}${shape('<p:ph type="sldNum" idx="5"/>', paragraphs([String(slideNumber)]))}</p:spTree></p:cSld></p:notes>`
}

function slideXml(slide: Slide): string {
  const shape = (placeholder: string, paragraphs: string[]) =>
    `<p:sp><p:nvSpPr><p:cNvPr id="2" name="Shape"/><p:cNvSpPr/><p:nvPr>${placeholder}</p:nvPr></p:nvSpPr><p:txBody><a:bodyPr/>${paragraphs
      .map((p) => `<a:p><a:r><a:t>${escapeXml(p)}</a:t></a:r></a:p>`)
      .join('')}</p:txBody></p:sp>`
  const table = slide.table
    ? `<p:graphicFrame><a:graphic><a:graphicData><a:tbl>${slide.table
        .map(
          (row) =>
            `<a:tr>${row.map((cell) => `<a:tc><a:txBody><a:p><a:r><a:t>${escapeXml(cell)}</a:t></a:r></a:p></a:txBody></a:tc>`).join('')}</a:tr>`,
        )
        .join('')}</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`
    : ''
  return `${XML}<p:sld ${P}><p:cSld><p:spTree>${slide.title ? shape('<p:ph type="title"/>', [slide.title]) : ''}${
    slide.body ? shape('<p:ph idx="1"/>', slide.body) : ''
  }${table}</p:spTree></p:cSld></p:sld>`
}

/** A deck whose slides are stored in reverse file order, to prove the deck's order is followed. */
export function buildPptx(slides: Slide[]): Uint8Array {
  const files: Record<string, Uint8Array> = {}
  const count = slides.length
  slides.forEach((slide, i) => {
    files[`ppt/slides/slide${count - i}.xml`] = strToU8(slideXml(slide))
    if (slide.notes) {
      // Notes pages numbered apart from the slides, as after slides are reordered.
      files[`ppt/notesSlides/notesSlide${i + 1}.xml`] = strToU8(notesSlideXml(slide.notes, i + 1))
      files[`ppt/slides/_rels/slide${count - i}.xml.rels`] = strToU8(
        `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${REL}/slideLayout" Target="../slideLayouts/slideLayout1.xml"/><Relationship Id="rId2" Type="${REL}/notesSlide" Target="../notesSlides/notesSlide${i + 1}.xml"/></Relationships>`,
      )
    }
  })
  const ids = slides.map((_, i) => `<p:sldId id="${256 + i}" r:id="rId${i + 2}"/>`).join('')
  const rels = slides
    .map((_, i) => `<Relationship Id="rId${i + 2}" Type="${REL}/slide" Target="slides/slide${count - i}.xml"/>`)
    .join('')
  return zipSync({
    '[Content_Types].xml': strToU8(
      `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`,
    ),
    'ppt/presentation.xml': strToU8(`${XML}<p:presentation ${P}><p:sldIdLst>${ids}</p:sldIdLst></p:presentation>`),
    'ppt/_rels/presentation.xml.rels': strToU8(
      `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels}</Relationships>`,
    ),
    ...files,
  })
}
