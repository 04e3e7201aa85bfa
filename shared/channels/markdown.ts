// A small Markdown → chat-markup converter shared by Slack (mrkdwn) and WhatsApp.
// Agents answer in the Markdown models naturally write; each channel has its own dialect
// of emphasis, links and escaping. This is not a full CommonMark parser: it handles what
// LLM answers contain (fenced code, inline code, headings, lists, quotes, links, bold,
// italics, strike) and leaves anything it does not recognise as plain text.

export interface ChatDialect {
  /** Escapes plain text for the channel (Slack: & < >); applied outside links we build. */
  escape(text: string): string
  bold: string
  italic: string
  strike: string
  inlineCode(code: string): string
  codeBlock(code: string): string
  /** `label` is already rendered for the channel; null for a bare URL. */
  link(url: string, label: string | null): string
  bullet: string
  rule: string
  /** Channel markup already in the text that must pass through untouched. */
  passThrough?: RegExp
}

type Block = { type: 'code'; code: string } | { type: 'prose'; text: string }

const FENCE = /^ {0,3}(`{3,}|~{3,})/

/** Splits Markdown into fenced code blocks and prose; an unclosed fence runs to the end. */
export function splitFencedCode(markdown: string): Block[] {
  const blocks: Block[] = []
  let prose: string[] = []
  let code: string[] | null = null
  let fence = ''
  for (const line of markdown.replace(/\r\n?/g, '\n').split('\n')) {
    if (code === null) {
      const open = FENCE.exec(line)
      if (open) {
        if (prose.length) blocks.push({ type: 'prose', text: prose.join('\n') })
        prose = []
        code = []
        fence = open[1]!
      } else {
        prose.push(line)
      }
    } else if (line.trim().startsWith(fence[0]!.repeat(fence.length)) && line.trim().replace(/[`~]/g, '') === '') {
      blocks.push({ type: 'code', code: code.join('\n') })
      code = null
    } else {
      code.push(line)
    }
  }
  if (code !== null) blocks.push({ type: 'code', code: code.join('\n') })
  else if (prose.length) blocks.push({ type: 'prose', text: prose.join('\n') })
  return blocks
}

export function renderMarkdown(markdown: string, dialect: ChatDialect): string {
  // Private-use characters are our placeholders; input must not be able to forge them.
  const clean = markdown.replace(/[\uE000-\uE0FF]/g, '')
  return splitFencedCode(clean)
    .map((block) => (block.type === 'code' ? dialect.codeBlock(block.code) : renderProse(block.text, dialect)))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}

function renderProse(text: string, dialect: ChatDialect): string {
  return text
    .split('\n')
    .map((line) => {
      const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
      if (heading) {
        const content = renderInline(heading[1]!, dialect, { insideBold: true })
        return content ? `${dialect.bold}${content}${dialect.bold}` : ''
      }
      if (/^ {0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) return dialect.rule
      const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line)
      if (bullet) return `${nestIndent(bullet[1]!)}${dialect.bullet} ${renderInline(bullet[2]!, dialect)}`
      const numbered = /^(\s*)(\d{1,9})[.)]\s+(.*)$/.exec(line)
      if (numbered) return `${nestIndent(numbered[1]!)}${numbered[2]}. ${renderInline(numbered[3]!, dialect)}`
      const quote = /^ {0,3}>\s?(.*)$/.exec(line)
      if (quote) return `> ${renderInline(quote[1]!, dialect)}`
      return renderInline(line, dialect)
    })
    .join('\n')
}

// Chat clients collapse leading spaces; keep nesting visible with a few non-breaking ones.
function nestIndent(indent: string): string {
  const level = Math.floor(indent.replace(/\t/g, '    ').length / 2)
  return '\u00a0\u00a0\u00a0\u00a0'.repeat(Math.min(level, 4))
}

const BOLD = '\uE010'
const ITALIC = '\uE011'
const STRIKE = '\uE012'

function renderInline(text: string, dialect: ChatDialect, options: { insideBold?: boolean } = {}): string {
  const kept: string[] = []
  const keep = (rendered: string) => `\uE000${kept.push(rendered) - 1}\uE001`

  let out = text
  // 1. Code spans first: nothing inside them is Markdown.
  out = out.replace(/(`+)([^`\n]|[^`\n][^\n]*?[^`\n])\1(?!`)/g, (_, _ticks, code: string) =>
    keep(dialect.inlineCode(code)),
  )
  // 2. Channel markup the caller wants kept verbatim (e.g. Slack user mentions).
  if (dialect.passThrough) out = out.replace(dialect.passThrough, (m) => keep(m))
  // 3. Links and images: [label](url "title"), ![alt](url), <https://autolink>.
  out = out.replace(
    /!?\[([^\]\n]*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))+)>?(?:\s+"[^"\n]*")?\s*\)/g,
    (_, label: string, url: string) => {
      const renderedLabel = label.trim() ? emphasis(dialect.escape(label.trim()), dialect, false) : null
      return keep(safeUrl(url) ? dialect.link(url, renderedLabel) : (renderedLabel ?? dialect.escape(url)))
    },
  )
  out = out.replace(/<((?:https?:\/\/|mailto:)[^>\s]+)>/g, (_, url: string) => keep(dialect.link(url, null)))
  // 4. Escape what is left, then map emphasis onto the channel's markers.
  out = emphasis(dialect.escape(out), dialect, options.insideBold ?? false)
  return out.replace(/\uE000(\d+)\uE001/g, (_, i: string) => kept[Number(i)]!)
}

function emphasis(text: string, dialect: ChatDialect, insideBold: boolean): string {
  const bold = insideBold ? '' : BOLD
  return text
    .replace(/\*\*(?=\S)([^\n]*?\S)\*\*/g, `${bold}$1${bold}`)
    .replace(/(^|[^\w])__(?=\S)([^\n]*?\S)__(?!\w)/g, `$1${bold}$2${bold}`)
    .replace(/~~(?=\S)([^\n]*?\S)~~/g, `${STRIKE}$1${STRIKE}`)
    .replace(/(^|[^\w*])\*([^\s*](?:[^*\n]*?[^\s*])?)\*(?![\w*])/g, `$1${ITALIC}$2${ITALIC}`)
    .replace(/(^|[^\w])_([^\s_](?:[^_\n]*?[^\s_])?)_(?!\w)/g, `$1${ITALIC}$2${ITALIC}`)
    .replaceAll(BOLD, dialect.bold)
    .replaceAll(ITALIC, dialect.italic)
    .replaceAll(STRIKE, dialect.strike)
}

/** Only web and mail links become clickable; anything else (javascript:, relative) stays text. */
export function safeUrl(url: string): boolean {
  return /^(https?:\/\/[^\s]+|mailto:[^\s]+)$/i.test(url)
}
