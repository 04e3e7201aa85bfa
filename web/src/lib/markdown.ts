// Markdown in chat views (conversations, the test chat). Every message is written by someone
// outside the tenant's control (a customer, or a model that read a customer's words or a
// fetched page), so the output may only ever hold the tags markdown-it builds itself:
// - raw HTML in the text is escaped, never passed through (html: false);
// - a link's address must be http(s) or mailto; anything else (javascript:, data:, file:,
//   vbscript:, relative paths into the portal) stays plain text;
// - links open in a new tab with no opener and no referrer;
// - images become links: an address in a message is never fetched by the reader's browser;
// - headings render as bold paragraphs, so a message cannot reshape the page's outline.
import MarkdownIt from 'markdown-it'

const SAFE_LINK = /^(https?:\/\/|mailto:)/i

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false })
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false })
md.validateLink = (url) => SAFE_LINK.test(url.trim())

md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
  const token = tokens[idx]!
  token.attrSet('target', '_blank')
  token.attrSet('rel', 'noopener noreferrer')
  return self.renderToken(tokens, idx, options)
}

md.renderer.rules.image = (tokens, idx) => {
  const token = tokens[idx]!
  const src = String(token.attrGet('src') ?? '')
  const label = token.content || src || 'image'
  const escape = md.utils.escapeHtml
  return `<a href="${escape(src)}" target="_blank" rel="noopener noreferrer">${escape(label)}</a>`
}

md.renderer.rules.fence = (tokens, idx) => `<pre><code>${md.utils.escapeHtml(tokens[idx]!.content)}</code></pre>\n`
md.renderer.rules.heading_open = () => '<p><strong>'
md.renderer.rules.heading_close = () => '</strong></p>\n'

/** The HTML of a chat message written in Markdown; safe to insert with {@html}. */
export function renderChatMarkdown(text: string): string {
  return md.render(text).trimEnd()
}

/**
 * The words of a Markdown message without its marks, on one line: what a list preview shows
 * ("**Hi** [there](…)" → "Hi there"). Code keeps its text; breaks and blocks become spaces.
 */
export function markdownToPlainText(text: string): string {
  const words: string[] = []
  for (const block of md.parse(text, {})) {
    if (block.type !== 'inline' && block.type !== 'fence' && block.type !== 'code_block') continue
    if (block.type !== 'inline') {
      words.push(block.content)
      continue
    }
    for (const token of block.children ?? []) {
      if (token.type === 'text' || token.type === 'code_inline') words.push(token.content)
      else if (token.type === 'softbreak' || token.type === 'hardbreak') words.push(' ')
      else if (token.type === 'image') words.push(token.content)
    }
    words.push(' ')
  }
  return words.join('').replace(/\s+/g, ' ').trim()
}
