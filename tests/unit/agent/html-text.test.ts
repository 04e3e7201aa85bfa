// HTML knowledge (uploaded pages and fetched URLs) as the agent will quote it: what a
// reader sees on the page, not its markup, and headings kept as the passages' sections.
import { describe, expect, it } from 'vitest'
import { chunkDocument } from '../../../shared/agent/chunking.ts'
import { htmlToText } from '../../../shared/agent/html-text.ts'

describe('htmlToText', () => {
  it('decodes named, numeric and hex entities', () => {
    expect(htmlToText('<p>Caf&eacute; cr&egrave;me &ndash; 5&nbsp;&euro; &#8364; &#x20AC; &amp; &lt;tea&gt;</p>')).toBe(
      'Café crème – 5\u00a0€ € € & <tea>',
    )
  })

  it('joins words split by inline tags, and separates blocks', () => {
    expect(htmlToText('<p>Only <b>bo</b>ld and <i>it</i>alic <span>sp</span>ans</p><div>Next block</div>')).toBe(
      'Only bold and italic spans\n\nNext block',
    )
  })

  it('keeps a ">" inside an attribute out of the text', () => {
    expect(htmlToText('<p title="a > b" data-x=\'1>2\'>Visible text</p><a href="/x?a>b">Link</a>')).toBe(
      'Visible text\n\nLink',
    )
  })

  it('drops scripts, styles, navigation, forms and hidden content', () => {
    const page = `<!doctype html><html><head><title>Shop</title>
      <style>p { color: red }</style><script>var secret = "<p>not knowledge</p>"</script></head>
      <body><nav><a href="/">Home</a> <a href="/cart">Cart</a></nav>
      <script type="application/ld+json">{"name":"json-ld"}</script>
      <main><p>Gift cards never expire.</p><noscript>Enable JavaScript</noscript>
      <form><input value="typed"><button>Send form</button></form>
      <div hidden>Hidden draft</div><template><p>Template row</p></template>
      <svg><text>chart label</text></svg></main></body></html>`
    expect(htmlToText(page)).toBe('Gift cards never expire.')
  })

  it('turns headings into Markdown headings that become the passages’ sections', () => {
    const page = `<h1>Returns &amp; refunds</h1><p>Unused items within <b>30</b> days.</p>
      <h2>Refunds</h2><p>Paid to the original card.</p><h3> </h3>
      <h2>Exchanges</h2><ul><li>Size swaps are free.</li><li>Colour swaps too.</li></ul>`
    const text = htmlToText(page)
    expect(text).toBe(
      [
        '# Returns & refunds',
        'Unused items within 30 days.',
        '## Refunds',
        'Paid to the original card.',
        '## Exchanges',
        '- Size swaps are free.\n- Colour swaps too.',
      ].join('\n\n'),
    )
    expect(chunkDocument(text)).toEqual([
      { content: 'Unused items within 30 days.', heading: 'Returns & refunds' },
      { content: 'Paid to the original card.', heading: 'Returns & refunds › Refunds' },
      { content: '- Size swaps are free.\n- Colour swaps too.', heading: 'Returns & refunds › Exchanges' },
    ])
  })

  it('keeps a table’s rows together, cell by cell', () => {
    const text = htmlToText('<table><tr><th>Size</th><th>Price</th></tr><tr><td>Small</td><td>2 €</td></tr></table>')
    expect(text.split('\n').map((line) => line.trim().split(/\s{2,}/))).toEqual([
      ['Size', 'Price'],
      ['Small', '2 €'],
    ])
  })
})
