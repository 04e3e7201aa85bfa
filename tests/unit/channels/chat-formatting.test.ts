import { describe, expect, it } from 'vitest'
import { renderSlackMrkdwn, SLACK_MESSAGE_LIMIT, toSlackMessages } from '../../../shared/channels/slack/mrkdwn.ts'
import {
  renderWhatsAppText,
  toWhatsAppMessages,
  WHATSAPP_TEXT_LIMIT,
} from '../../../shared/channels/whatsapp/format.ts'
import { splitMessage } from '../../../shared/channels/split-message.ts'

describe('renderSlackMrkdwn', () => {
  it('maps emphasis onto Slack markers', () => {
    expect(renderSlackMrkdwn('**bold**, __also bold__, *italic*, _italic_ and ~~gone~~')).toBe(
      '*bold*, *also bold*, _italic_, _italic_ and ~gone~',
    )
  })

  it('leaves snake_case and arithmetic alone', () => {
    expect(renderSlackMrkdwn('set max_retry_count to 2*3*4')).toBe('set max_retry_count to 2*3*4')
  })

  it('turns links into <url|label> and keeps autolinks', () => {
    expect(renderSlackMrkdwn('See [the **docs**](https://example.com/a?b=1&c=2) or <https://x.test>')).toBe(
      'See <https://example.com/a?b=1&amp;c=2|the *docs*> or <https://x.test>',
    )
  })

  it('percent-encodes characters that would break a link', () => {
    expect(renderSlackMrkdwn('[x](https://e.test/a|b)')).toBe('<https://e.test/a%7Cb|x>')
  })

  it('does not make unsafe links clickable', () => {
    expect(renderSlackMrkdwn('[click](javascript:alert(1))')).toBe('click')
  })

  it('escapes & < > in text and code, keeps user mentions, defuses @channel', () => {
    expect(renderSlackMrkdwn('a < b && c > d, ask <@U123ABC>, <!channel>')).toBe(
      'a &lt; b &amp;&amp; c &gt; d, ask <@U123ABC>, &lt;!channel&gt;',
    )
    expect(renderSlackMrkdwn('use `a<b>` here')).toBe('use `a&lt;b&gt;` here')
  })

  it('turns headings into bold lines and lists into bullets', () => {
    expect(renderSlackMrkdwn('## Steps **now**\n- one\n* two\n  - nested\n1. first\n> quoted *x*')).toBe(
      '*Steps now*\n• one\n• two\n\u00a0\u00a0\u00a0\u00a0• nested\n1. first\n> quoted _x_',
    )
  })

  it('keeps code blocks as code, without Markdown inside them and without the language tag', () => {
    expect(renderSlackMrkdwn('Run:\n```bash\necho **not bold** && ls <dir>\n```\nDone')).toBe(
      'Run:\n```\necho **not bold** &amp;&amp; ls &lt;dir&gt;\n```\nDone',
    )
  })

  it('closes an unterminated code block', () => {
    expect(renderSlackMrkdwn('```\nconst a = 1')).toBe('```\nconst a = 1\n```')
  })

  it('cannot be tricked by placeholder characters in the input', () => {
    expect(renderSlackMrkdwn('x \uE0000\uE001 y')).toBe('x 0 y')
  })
})

describe('renderWhatsAppText', () => {
  it('maps Markdown onto WhatsApp markers and spells links out', () => {
    expect(renderWhatsAppText('# Hi\n**bold** *it* ~~s~~ `c` [site](https://e.test) <https://x.test> a<b')).toBe(
      '*Hi*\n*bold* _it_ ~s~ `c` site (https://e.test) https://x.test a<b',
    )
  })

  it('keeps code blocks in triple backticks', () => {
    expect(renderWhatsAppText('```js\nlet x = **1**\n```')).toBe('```\nlet x = **1**\n```')
  })
})

describe('splitMessage', () => {
  const paragraph = (n: number) => `Paragraph ${n}. ` + 'Lorem ipsum dolor sit amet. '.repeat(20).trim()

  it('returns short text unchanged', () => {
    expect(splitMessage('hello', 100)).toEqual(['hello'])
  })

  it('splits between paragraphs, every part under the limit, nothing lost', () => {
    const text = Array.from({ length: 12 }, (_, i) => paragraph(i)).join('\n\n')
    const parts = splitMessage(text, 1200)
    expect(parts.length).toBeGreaterThan(1)
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(1200)
      expect(part.startsWith('Paragraph')).toBe(true)
    }
    expect(parts.join('\n\n')).toBe(text)
  })

  it('falls back to sentence boundaries inside one long paragraph', () => {
    const text = 'This is a sentence that goes on. '.repeat(40).trim()
    const parts = splitMessage(text, 300)
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(300)
      expect(part.endsWith('.')).toBe(true)
    }
  })

  it('cuts a word that is longer than the limit, without breaking an emoji', () => {
    const text = '😀'.repeat(100)
    const parts = splitMessage(text, 51)
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(51)
      expect(part).toMatch(/^(?:😀)+$/u)
    }
    expect(parts.join('')).toBe(text)
  })

  it('closes and reopens a code block that spans two parts', () => {
    const code = Array.from({ length: 60 }, (_, i) => `line ${i} of the program`).join('\n')
    const parts = splitMessage(`Intro\n\n\`\`\`\n${code}\n\`\`\`\n\nOutro`, 500)
    expect(parts.length).toBeGreaterThan(2)
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(500)
      expect(part.split('```').length % 2).toBe(1) // an even number of fences
    }
  })

  it('does not cut inside a Slack link', () => {
    const link = '<https://example.com/a/very/long/path|a link label with several words in it>'
    const text = 'word '.repeat(15) + link + ' tail'
    const parts = splitMessage(text, 100)
    expect(parts.some((p) => p.includes(link))).toBe(true)
  })

  it('renders and splits whole answers for each channel', () => {
    const answer = Array.from({ length: 40 }, (_, i) => `## Part ${i}\n${paragraph(i)} & <more>`).join('\n\n')
    for (const part of toSlackMessages(answer)) expect(part.length).toBeLessThanOrEqual(SLACK_MESSAGE_LIMIT)
    for (const part of toWhatsAppMessages(answer)) expect(part.length).toBeLessThanOrEqual(WHATSAPP_TEXT_LIMIT)
    expect(toSlackMessages(answer)[0]).toMatch(/^\*Part 0\*\nParagraph 0\./)
  })
})
