// Markdown → Slack mrkdwn. Slack uses *bold*, _italic_, ~strike~, <url|label> links and
// requires &, < and > to be escaped as entities everywhere, code included (Slack shows
// them decoded inside code too, and an unescaped "<" there could still open a link).
import { renderMarkdown, type ChatDialect } from '../markdown.ts'
import { splitMessage } from '../split-message.ts'

/**
 * Longest text we put in one message. Slack truncates `text` only at 40,000 characters but
 * recommends staying under 4,000, and a section block holds at most 3,000; 3,000 lets one
 * part go either as message text or as a section block (e.g. above confirm buttons), and
 * the split is made after escaping, so entities count against it.
 */
export const SLACK_MESSAGE_LIMIT = 3000

export function escapeSlackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

const slackDialect: ChatDialect = {
  escape: escapeSlackText,
  bold: '*',
  italic: '_',
  strike: '~',
  inlineCode: (code) => `\`${escapeSlackText(code)}\``,
  codeBlock: (code) => `\`\`\`\n${escapeSlackText(code)}\n\`\`\``,
  link: (url, label) => {
    // Inside <...> a "|" would end the URL and ">" the link; percent-encode them.
    const target = escapeSlackText(url.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C'))
    return label ? `<${target}|${label}>` : `<${target}>`
  },
  bullet: '•',
  rule: '───',
  // User and channel mentions the agent was given may stay; <!channel>/<!here> may not,
  // so a prompt-injected answer cannot ping a whole workspace.
  passThrough: /<[@#][A-Z0-9]{2,}(?:\|[^<>\n]*)?>/g,
}

export function renderSlackMrkdwn(markdown: string): string {
  return renderMarkdown(markdown, slackDialect)
}

/** Renders and splits an answer into Slack messages in reading order. */
export function toSlackMessages(markdown: string, limit = SLACK_MESSAGE_LIMIT): string[] {
  return splitMessage(renderSlackMrkdwn(markdown), limit)
}
