// The readable text of an HTML page, for knowledge: html-to-text (htmlparser2 underneath)
// parses the page as a browser would, so entities are decoded, inline tags join the words
// around them ("<b>bo</b>ld" is "bold") and a ">" inside an attribute stays in the
// attribute. What is not content (scripts, styles, navigation, forms, images, hidden
// elements) is dropped. Headings come out as Markdown headings ("## Hours"), which
// chunkDocument turns into the section titles its passages carry.

// html-to-text ships no types of its own; Deno outside node_modules needs to be told where they are.
// @ts-types="npm:@types/html-to-text@9.0.4"
import { convert, type FormatCallback, type SelectorDefinition } from 'html-to-text'

const NOT_CONTENT = [
  'nav',
  'noscript',
  'template',
  'svg',
  'canvas',
  'iframe',
  'object',
  'button',
  'select',
  'input',
  'textarea',
  'img',
  '[hidden]',
  '[aria-hidden="true"]',
]

const markdownHeading: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 2 })
  builder.addLiteral(`${'#'.repeat(Number(elem.name?.slice(1)) || 1)} `)
  walk(elem.children, builder)
  builder.closeBlock({ trailingLineBreaks: 2 })
}

const selectors: SelectorDefinition[] = [
  ...[1, 2, 3, 4, 5, 6].map((level) => ({ selector: `h${level}`, format: 'markdownHeading' })),
  ...NOT_CONTENT.map((selector) => ({ selector, format: 'skip' })),
  // Link targets are noise in a passage (and relative ones mean nothing out of the page).
  { selector: 'a', options: { ignoreHref: true } },
  { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
  { selector: 'ul', options: { itemPrefix: '- ' } },
]

/** The text of an HTML document: paragraphs separated by blank lines, headings as Markdown. */
export function htmlToText(html: string): string {
  const text = convert(html, {
    wordwrap: false,
    formatters: { markdownHeading },
    selectors,
    // Deeper nesting than any real page is cut rather than risking the stack.
    limits: { maxDepth: 256 },
  })
  return text
    .split('\n')
    .filter((line) => !/^#{1,6}\s*$/.test(line))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}
