// Typing, both ways, in two browser contexts: a customer types in the web chat widget and
// the demo admin, with the conversation open in the portal, sees "Visitor is typing…",
// which goes away by itself; the admin types a reply and the widget shows "Demo Admin is
// typing…" until the reply arrives. However fast the customer types, the widget sends at
// most one typing event every 3 seconds (its websocket frames are counted).
import type { Server } from 'node:http'
import type { Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { startCustomerSite } from './support/customer-site.ts'

const WIDGET_KEY = 'wk_demo_konstruct_widget_key'

let e2e: E2E
let site: Server
let siteUrl: string
let admin: Page
let customer: Page
let conversationId: string
const typingFramesSent: number[] = []

const portalTyping = (page: Page) => page.getByTestId('typing')
const widgetTyping = (page: Page) => page.locator('[data-konstruct-typing]')

beforeAll(async () => {
  e2e = await startE2E()
  ;({ server: site, url: siteUrl } = await startCustomerSite(e2e.stack.url, WIDGET_KEY))
  admin = await (await e2e.newContext()).newPage()
  customer = await (await e2e.newContext()).newPage()
  for (const page of [admin, customer]) page.context().setDefaultTimeout(15_000)
  // Every typing broadcast the widget sends, by when it was sent.
  customer.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => {
      const text = typeof payload === 'string' ? payload : payload.toString()
      if (text.includes('"event":"broadcast"') && text.includes('"event":"typing"')) typingFramesSent.push(Date.now())
    })
  })
}, 180_000)

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  const step = ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
  await screenshot(admin, `typing-FAILED-${step}-admin`).catch(() => {})
  await screenshot(customer, `typing-FAILED-${step}-customer`).catch(() => {})
})

afterAll(async () => {
  await new Promise((resolve) => site?.close(resolve))
  await e2e?.close()
})

describe('typing indicators between the widget and the portal', () => {
  it('a customer starts a conversation and the admin opens it', async () => {
    await customer.goto(siteUrl)
    await customer.getByRole('button', { name: 'Chat', exact: true }).click()
    await customer.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    await customer.getByLabel('Your message').fill('Do you have this in blue?')
    await customer.getByRole('button', { name: 'Send' }).click()
    await customer.locator('[data-konstruct-message="agent"]').first().waitFor({ timeout: 30_000 })

    await signIn(admin, DEMO.email, DEMO.password)
    await admin.waitForURL(`**/t/${DEMO.tenantSlug}/conversations`)
    const row = admin.locator('ul.conversation-list > li[data-conversation-id]').first()
    conversationId = (await row.getAttribute('data-conversation-id')) ?? ''
    await row.locator('a').click()
    await admin.waitForURL(`**/conversations/${conversationId}`)
    await waitLive(admin)
    await admin.locator('[data-testid="typing"][data-typing-live="true"]').waitFor()
    expect(await portalTyping(admin).innerText()).toBe('')
  })

  it('the admin sees the customer typing, and the indicator goes by itself', async () => {
    const before = typingFramesSent.length
    const started = Date.now()
    await customer.getByLabel('Your message').pressSequentially('And in size 42', { delay: 20 })
    const elapsed = Date.now() - started
    await portalTyping(admin).filter({ hasText: 'Visitor is typing…' }).waitFor()
    // Fourteen keystrokes, at most one event per 3 seconds (plus the first).
    const sent = typingFramesSent.length - before
    expect(sent).toBeGreaterThanOrEqual(1)
    expect(sent).toBeLessThanOrEqual(Math.floor(elapsed / 3000) + 1)
    // Nothing more typed: it disappears without a message.
    await expect.poll(() => portalTyping(admin).innerText(), { timeout: 15_000 }).toBe('')
    expect(await admin.locator('.message-log li[data-author="contact"]').count()).toBe(1)
  })

  it('the customer sees the admin typing, until the reply arrives', async () => {
    expect(await widgetTyping(customer).innerText()).toBe('')
    await admin.getByLabel(/Reply as/).pressSequentially('Yes, we do', { delay: 20 })
    await widgetTyping(customer).filter({ hasText: 'Demo Admin is typing…' }).waitFor()
    await screenshot(customer, 'typing-member-typing-widget')
    // Never the member's email.
    expect(await widgetTyping(customer).innerText()).not.toContain('@')
    await admin.getByRole('button', { name: 'Send reply' }).click()
    await customer.locator('[data-konstruct-message="member"]').filter({ hasText: 'Yes, we do' }).waitFor()
    await expect.poll(() => widgetTyping(customer).innerText(), { timeout: 2_000 }).toBe('')
  })

  it("the customer's message takes the indicator away at once", async () => {
    await customer.getByLabel('Your message').fill('')
    await customer.getByLabel('Your message').pressSequentially('Great', { delay: 20 })
    await portalTyping(admin).filter({ hasText: 'Visitor is typing…' }).waitFor()
    await customer.getByRole('button', { name: 'Send' }).click()
    await admin.locator('.message-log li[data-author="contact"]').filter({ hasText: 'Great' }).waitFor()
    await expect.poll(() => portalTyping(admin).innerText(), { timeout: 2_000 }).toBe('')
  })
})
