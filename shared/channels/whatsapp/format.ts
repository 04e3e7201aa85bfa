// Markdown → WhatsApp formatting: *bold*, _italic_, ~strike~, `code`, ```code blocks```.
// WhatsApp has no link markup (it links bare URLs itself) and no escaping, so a link
// becomes "label (url)".
import { renderMarkdown, type ChatDialect } from '../markdown.ts'
import { splitMessage } from '../split-message.ts'

/** Cloud API limit for a text message body. */
export const WHATSAPP_TEXT_LIMIT = 4096

const whatsAppDialect: ChatDialect = {
  escape: (text) => text,
  bold: '*',
  italic: '_',
  strike: '~',
  inlineCode: (code) => `\`${code}\``,
  codeBlock: (code) => `\`\`\`\n${code}\n\`\`\``,
  link: (url, label) => {
    const bareUrl = url.replace(/^mailto:/i, '')
    return label && label !== url && label !== bareUrl ? `${label} (${bareUrl})` : bareUrl
  },
  bullet: '•',
  rule: '───',
}

export function renderWhatsAppText(markdown: string): string {
  return renderMarkdown(markdown, whatsAppDialect)
}

/** Renders and splits an answer into WhatsApp text messages in reading order. */
export function toWhatsAppMessages(markdown: string, limit = WHATSAPP_TEXT_LIMIT): string[] {
  return splitMessage(renderWhatsAppText(markdown), limit)
}
