// What people and models write is shown as formatted text, never as live HTML: Markdown in
// the conversation view (loaded and streamed live) and in the test chat; raw HTML, scripts and
// javascript: links from a customer stay inert text.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'
import { until } from '../support/until.ts'

let e2e: E2E
let admin: Page
const base = `/t/${DEMO.tenantSlug}`
const dialogs: string[] = []

// Each attack would set window.__pwned (or open a dialog) if it ever ran.
const HOSTILE = [
  'Is my order **on its way**? See [the tracking page](https://shop.example/track).',
  '<script>window.__pwned = "script"</script>',
  '<img src="x" onerror="window.__pwned = \'img\'">',
  '[click me](javascript:window.__pwned=%22link%22)',
  '![pixel](data:image/png;base64,iVBORw0KGgo=)',
  '<iframe src="javascript:alert(1)"></iframe>',
].join('\n\n')

async function pwned(page: Page): Promise<unknown> {
  return page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned ?? null)
}

beforeAll(async () => {
  e2e = await startE2E()
  const context = await e2e.newContext()
  admin = await context.newPage()
  admin.on('dialog', (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss()
  })
  await signIn(admin, DEMO.email, DEMO.password)
}, 180_000)

afterAll(async () => {
  console.log('[e2e markdown-and-sources] setup ms', JSON.stringify(e2e?.timings))
  await e2e?.close()
})

describe('Markdown in the conversation view', () => {
  let conversationId: string

  it('renders a loaded message as formatted text and runs nothing it holds', async () => {
    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'md-1',
      thread: 'visitor-mallory',
      name: 'Mallory',
      text: HOSTILE,
    })
    conversationId = sent.conversation_id
    await open(admin, `${base}/conversations/${conversationId}`)
    await waitLive(admin)
    const message = admin.locator(`li[data-message-id="${sent.message_id}"]`)
    await message.waitFor()

    expect(await message.locator('.markdown strong').allTextContents()).toEqual(['on its way'])
    const link = message.getByRole('link', { name: 'the tracking page' })
    expect(await link.getAttribute('href')).toBe('https://shop.example/track')
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer')
    expect(await link.getAttribute('target')).toBe('_blank')
    // The markup is shown as the text the customer typed, not as elements.
    await message.getByText('<script>window.__pwned = "script"</script>').waitFor()
    await message.getByText('[click me](javascript:window.__pwned=%22link%22)').waitFor()
    expect(await message.locator('script, img, iframe, svg').count()).toBe(0)
    expect(await message.locator('a').count()).toBe(1)
    expect(await admin.locator('a[href^="javascript:" i], a[href^="data:" i]').count()).toBe(0)
    expect(await pwned(admin)).toBeNull()
    expect(dialogs).toEqual([])
    await screenshot(admin, 'conversation-markdown-desktop')
  })

  it('renders a message that streams in live the same way', async () => {
    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'md-2',
      thread: 'visitor-mallory',
      text: 'Also:\n\n- **refund** please\n- <img src="y" onerror="window.__pwned = \'live\'">',
    })
    const message = admin.locator(`li[data-message-id="${sent.message_id}"]`)
    await message.locator('li strong', { hasText: 'refund' }).waitFor()
    expect(await message.locator('ul > li').count()).toBe(2)
    expect(await message.locator('img').count()).toBe(0)
    await message.getByText('<img src="y" onerror="window.__pwned = \'live\'">').waitFor()
    expect(await pwned(admin)).toBeNull()
    expect(dialogs).toEqual([])
  })
})

describe('Markdown in the test chat', () => {
  it('shows the agent answer formatted: its quote as a quote, with no Markdown marks', async () => {
    await open(admin, `${base}/agents/${DEMO.agentId}`)
    await waitLive(admin)
    // No web search provider in this environment: no switch, and the designer says why.
    expect(await admin.getByLabel('Search the web').count()).toBe(0)
    expect(await admin.locator('p[role="note"]', { hasText: 'Web search is unavailable' }).textContent()).toContain(
      'this platform has no search provider',
    )
    await admin.getByLabel('Your message').fill('How do refunds work?')
    await admin.getByRole('button', { name: 'Send' }).click()
    const answer = admin.locator('.bubble[data-who="agent"]').first()
    await answer.waitFor({ timeout: 30_000 })
    // Offline answers quote the knowledge base as a Markdown quote ("> …").
    await answer.locator('blockquote').waitFor()
    const shown = (await answer.innerText()).trim()
    expect(shown).toMatch(/offline/i)
    expect(shown).not.toMatch(/^\s*>/m)
    expect(await pwned(admin)).toBeNull()
  })
})

describe('a knowledge source, read in the portal', () => {
  let sourceId: string
  const sections = Array.from({ length: 60 }, (_, i) => i + 1)
  // Sixty sections, one passage each: two pages of passages.
  const manual =
    '<h1>Kayak manual</h1>' +
    sections
      .map((n) => `<h2>Chapter ${n}</h2><p>Paragraph ${n} says how to look after part ${n} of the kayak.</p>`)
      .join('')

  it('opens from the list and shows the passages in order, under their sections', async () => {
    const ava = e2e.stack.anonClient()
    await ava.auth.signInWithPassword({ email: DEMO.email, password: DEMO.password })
    const { data, error } = await ava.rpc('create_knowledge_source', {
      tenant_id: DEMO.tenantId,
      title: 'Kayak manual',
      kind: 'html',
      content: manual,
    })
    if (error) throw new Error(error.message)
    sourceId = (data as { id: string }).id
    // This test is about viewing a processed source (live status is the knowledge tests'
    // subject): the page opens once the worker has cut it into passages.
    await until(
      async () => {
        const { data: view } = await ava.rpc('view_knowledge_source', { source_id: sourceId })
        return (view as { source: { status: string } } | null)?.source.status === 'ready' ? true : undefined
      },
      'the manual processed',
      60_000,
    )
    await open(admin, `${base}/knowledge`)
    await admin.locator(`tr[data-source-id="${sourceId}"][data-status="ready"]`).waitFor()
    await admin.locator(`tr[data-source-id="${sourceId}"]`).getByRole('link', { name: 'Kayak manual' }).click()
    await admin.waitForURL(`**${base}/knowledge/${sourceId}`)
    await admin.getByRole('heading', { level: 1, name: 'Kayak manual' }).waitFor()

    const passages = admin.getByRole('list', { name: 'Passages' }).locator(':scope > li')
    expect(await passages.count()).toBe(50)
    const texts = await admin.locator('.passage-text').allTextContents()
    expect(texts.map((t) => /Paragraph (\d+) /.exec(t)?.[1])).toEqual(sections.slice(0, 50).map(String))
    const first = passages.first()
    expect(await first.getByRole('heading', { level: 2 }).textContent()).toMatch(/Chapter 1$/)
    await screenshot(admin, 'knowledge-source-desktop')

    await admin.getByRole('link', { name: 'Next passages →' }).click()
    await admin.waitForURL(/\?after=\d+$/)
    const rest = await admin.locator('.passage-text').allTextContents()
    expect(rest.map((t) => /Paragraph (\d+) /.exec(t)?.[1])).toEqual(sections.slice(50).map(String))
    expect(await admin.getByRole('link', { name: 'Next passages →' }).count()).toBe(0)
    await admin.getByRole('link', { name: '← From the first passage' }).click()
    await admin.locator('.passage-text', { hasText: 'Paragraph 1 says' }).waitFor()
  })

  it('is not found for another tenant, in the portal and through the api', async () => {
    const other = await e2e.stack.newUser('rival')
    const { data: tenant, error } = await other.client.rpc('create_tenant', { name: 'Rival Co' })
    expect(error).toBeNull()
    const { error: refused } = await other.client.rpc('view_knowledge_source', { source_id: sourceId })
    expect(refused?.code).toBe('P0002')

    const context = await e2e.newContext()
    const page = await context.newPage()
    await signIn(page, other.email, other.password)
    const response = await page.goto(`/t/${tenant.slug}/knowledge/${sourceId}`)
    expect(response?.status()).toBe(404)
    expect(await page.getByText('Paragraph 1 says').count()).toBe(0)
    const demo = await page.goto(`${base}/knowledge/${sourceId}`)
    expect([403, 404]).toContain(demo?.status())
    expect(await page.getByText('Paragraph 1 says').count()).toBe(0)
    await context.close()
  })
})
