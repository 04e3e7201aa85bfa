import { describe, expect, it } from 'vitest'
import { markdownToPlainText, renderChatMarkdown } from '../../../web/src/lib/markdown.ts'

// Text is escaped in the output, so every '<' left in it opens a tag the renderer built.
// Each tag is read with its attributes, and the whole output must use only these.
const ALLOWED_TAGS = new Set([
  'p',
  'br',
  'strong',
  'em',
  's',
  'code',
  'pre',
  'ul',
  'ol',
  'li',
  'blockquote',
  'hr',
  'a',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
])
const ALLOWED_ATTRIBUTES: Record<string, Set<string>> = {
  a: new Set(['href', 'target', 'rel']),
  ol: new Set(['start']),
  th: new Set(['style']),
  td: new Set(['style']),
}

interface Tag {
  name: string
  closing: boolean
  attributes: Record<string, string>
}

function tagsOf(html: string): Tag[] {
  const tags: Tag[] = []
  const TAG = /<(\/?)([a-z][a-z0-9]*)((?:\s+[a-z-]+(?:="[^"<>]*")?)*)\s*\/?>/gy
  let at = 0
  for (;;) {
    const next = html.indexOf('<', at)
    if (next < 0) return tags
    TAG.lastIndex = next
    const match = TAG.exec(html)
    if (!match) throw new Error(`a '<' that is not a well-formed tag at ${next}: ${html.slice(next, next + 60)}`)
    const attributes: Record<string, string> = {}
    for (const a of match[3]!.matchAll(/([a-z-]+)(?:="([^"]*)")?/g)) attributes[a[1]!] = a[2] ?? ''
    tags.push({ name: match[2]!, closing: match[1] === '/', attributes })
    at = TAG.lastIndex
  }
}

/** Fails unless the HTML holds only inert tags, attributes and link targets. */
function expectInert(html: string) {
  for (const tag of tagsOf(html)) {
    expect(ALLOWED_TAGS, `<${tag.name}> in ${html}`).toContain(tag.name)
    for (const [name, value] of Object.entries(tag.attributes)) {
      expect(ALLOWED_ATTRIBUTES[tag.name]?.has(name), `${name} on <${tag.name}> in ${html}`).toBe(true)
      if (name === 'href') expect(value).toMatch(/^(https?:\/\/|mailto:)/)
      if (name === 'style') expect(value).toMatch(/^text-align:(left|right|center)$/)
    }
    if (tag.name === 'a' && !tag.closing) {
      expect(tag.attributes.rel).toBe('noopener noreferrer')
      expect(tag.attributes.target).toBe('_blank')
    }
  }
}

describe('renderChatMarkdown: what models and people write renders', () => {
  it('bold, italics, strike and inline code', () => {
    const html = renderChatMarkdown('Your order is **on its way**, *probably* ~~today~~ `#1234`.')
    expect(html).toBe(
      '<p>Your order is <strong>on its way</strong>, <em>probably</em> <s>today</s> <code>#1234</code>.</p>',
    )
  })

  it('bulleted and numbered lists', () => {
    const html = renderChatMarkdown('Steps:\n\n1. Sign in\n2. Open **Billing**\n\n- fast\n- cheap')
    expect(html).toContain('<ol>\n<li>Sign in</li>\n<li>Open <strong>Billing</strong></li>\n</ol>')
    expect(html).toContain('<ul>\n<li>fast</li>\n<li>cheap</li>\n</ul>')
    expectInert(html)
  })

  it('fenced code keeps its text, escaped, with no language class from the message', () => {
    const html = renderChatMarkdown('```js onclick=alert(1)\nif (a < b && c) alert("<b>")\n```')
    expect(html).toBe('<pre><code>if (a &lt; b &amp;&amp; c) alert(&quot;&lt;b&gt;&quot;)\n</code></pre>')
  })

  it('links and bare web addresses open in a new tab without opener or referrer', () => {
    const html = renderChatMarkdown('See [our FAQ](https://example.com/faq) or https://example.com/help.')
    expect(html).toBe(
      '<p>See <a href="https://example.com/faq" target="_blank" rel="noopener noreferrer">our FAQ</a> or ' +
        '<a href="https://example.com/help" target="_blank" rel="noopener noreferrer">https://example.com/help</a>.</p>',
    )
    expect(renderChatMarkdown('[mail us](mailto:help@example.com)')).toContain('href="mailto:help@example.com"')
  })

  it('single line breaks stay line breaks, as in a chat', () => {
    expect(renderChatMarkdown('Hi Grace,\nthanks!')).toBe('<p>Hi Grace,<br>\nthanks!</p>')
  })

  it('headings become bold paragraphs, not page headings', () => {
    expect(renderChatMarkdown('# Refunds\nWithin 30 days.')).toBe(
      '<p><strong>Refunds</strong></p>\n<p>Within 30 days.</p>',
    )
  })

  it('a table renders with its alignment only', () => {
    const html = renderChatMarkdown('| Plan | Price |\n|:--|--:|\n| Pro | $20 |')
    expect(html).toContain('<td style="text-align:right">$20</td>')
    expectInert(html)
  })
})

describe('renderChatMarkdown: nothing a message holds becomes live HTML', () => {
  const attacks: [string, string][] = [
    ['a script element', '<script>window.pwned = 1</script>'],
    ['a script split over lines', '<scr\nipt>alert(1)</script>'],
    ['an image with onerror', '<img src=x onerror="window.pwned = 1">'],
    ['an svg with onload', '<svg onload=alert(1)>'],
    ['an iframe', '<iframe src="https://evil.example"></iframe>'],
    ['raw inline HTML in a sentence', 'Hello <b onmouseover="alert(1)">there</b>'],
    ['an HTML block', '<div style="position:fixed;inset:0">\n\n**covers the page**\n\n</div>'],
    ['an HTML comment', '<!-- <img src=x onerror=alert(1)> -->'],
    ['a javascript: link', '[click me](javascript:alert(1))'],
    ['a javascript: link in mixed case with spaces', '[click](  JaVaScRiPt:alert(1) )'],
    ['a javascript: link with an entity', '[click](jav&#x61;script:alert(1))'],
    ['a javascript: link with a tab', '[click](java\tscript:alert(1))'],
    ['a javascript: autolink', '<javascript:alert(1)>'],
    ['a vbscript: link', '[click](vbscript:msgbox(1))'],
    ['a data: HTML link', '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)'],
    ['a data: image', '![pixel](data:image/png;base64,iVBORw0KGgo=)'],
    ['a file: link', '[passwd](file:///etc/passwd)'],
    ['a relative link into the portal', '[settings](/t/acme/settings)'],
    ['a protocol-relative link', '[x](//evil.example/a)'],
    ['a reference link to javascript:', '[click][x]\n\n[x]: javascript:alert(1)'],
    ['an image with a quote-breaking title', '![a" onerror="alert(1)](https://example.com/a.png "t\\" onload=\\"x")'],
    ['a link with a quote-breaking address', '[x](https://example.com/"onmouseover="alert(1))'],
    ['a fence info string with markup', '```"><script>alert(1)</script>\ncode\n```'],
    ['an entity-encoded tag', '&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;'],
    ['a NUL and a lone surrogate', 'a\u0000<script>b\ud800</script>'],
  ]

  it.each(attacks)('%s', (_name, text) => {
    const html = renderChatMarkdown(text)
    expectInert(html)
    expect(html).not.toMatch(/<(script|img|svg|iframe|div|b|style)\b/i)
    expect(html).not.toMatch(/href="(?!https?:\/\/|mailto:)/i)
  })

  it('shows raw HTML as the text it is', () => {
    expect(renderChatMarkdown('<script>window.pwned = 1</script>')).toBe(
      '<p>&lt;script&gt;window.pwned = 1&lt;/script&gt;</p>',
    )
  })

  it('leaves a refused link as plain text', () => {
    expect(renderChatMarkdown('[click me](javascript:alert(1))')).toBe('<p>[click me](javascript:alert(1))</p>')
  })

  it('turns an image into a link, so the reader never loads it', () => {
    expect(renderChatMarkdown('![the receipt](https://tracker.example/p.png)')).toBe(
      '<p><a href="https://tracker.example/p.png" target="_blank" rel="noopener noreferrer">the receipt</a></p>',
    )
  })
})

describe('list previews', () => {
  it('show the words of a message without its Markdown marks', () => {
    expect(
      markdownToPlainText('**Offline answer** (no model):\n\n> You get a *full refund* within 30 days.\n\n— Refunds'),
    ).toBe('Offline answer (no model): You get a full refund within 30 days. — Refunds')
    expect(markdownToPlainText('See [the policy](https://shop.example/p) and `#1234`:\n- one\n- two')).toBe(
      'See the policy and #1234: one two',
    )
    expect(markdownToPlainText('# Title\n```\ncode here\n```')).toBe('Title code here')
  })

  it('keep HTML as the characters it is, and a preview cut mid-link readable', () => {
    expect(markdownToPlainText('<b>hi</b> there')).toBe('<b>hi</b> there')
    expect(markdownToPlainText('Track it [here](https://shop.exa')).toBe('Track it [here](https://shop.exa')
    expect(markdownToPlainText('')).toBe('')
  })
})
