// A customer's page and the portal, side by side, in two browser contexts: a visitor writes
// through the web chat widget and the demo admin, who has the conversations list open, sees
// the new conversation appear live; opens it; sees the next message and the agent's
// (offline) answer arrive live; takes over and replies — the reply appears live in the
// widget, labelled as a team member's, and the widget never claims "the agent is typing"
// while the human has it; releases — the agent answers the customer's next message again.
// The admin's page is never reloaded (a marker on its window survives from sign-in to the end).
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
const problems: string[] = []
const timings: Record<string, number> = {}

// The portal
const rowsOf = (page: Page) => page.locator('ul.conversation-list > li[data-conversation-id]')
const logOf = (page: Page) => page.locator('.message-log li[data-message-id]')
const authorsOf = (page: Page) => logOf(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-author')))
const status = (page: Page) => page.getByTestId('conversation-status')
const agentAnswers = (page: Page) => page.locator('.message-log li[data-author="agent"]')
// The widget
const widgetMessages = (page: Page) => page.locator('[data-konstruct-message]')
const widgetAnswers = (page: Page) => page.locator('[data-konstruct-message="agent"]')
const widgetOrder = (page: Page) =>
  widgetMessages(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-konstruct-message')))
const widgetMemberReplies = (page: Page) => page.locator('[data-konstruct-message="member"]')
const widgetStatus = (page: Page) => page.locator('[data-konstruct-status]')
const widgetHandledBy = (page: Page, status: string) =>
  page.locator(`[data-konstruct-widget][data-konstruct-conversation-status="${status}"]`)

/** Records every text the widget's status line is given from now on (even ones replaced at once). */
async function recordWidgetStatus(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __statusSeen?: string[]; __statusObserver?: MutationObserver }
    w.__statusObserver?.disconnect()
    const line = document.querySelector('[data-konstruct-status]')!
    const seen: string[] = [line.textContent ?? '']
    w.__statusSeen = seen
    w.__statusObserver = new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'characterData') seen.push(r.target.textContent ?? '')
        r.addedNodes.forEach((n) => seen.push(n.textContent ?? ''))
      }
    })
    w.__statusObserver.observe(line, { childList: true, characterData: true, subtree: true })
  })
}
const widgetStatusSeen = (page: Page) =>
  page.evaluate(() => (window as unknown as { __statusSeen?: string[] }).__statusSeen ?? [])

async function customerSends(text: string): Promise<void> {
  await customer.getByLabel('Your message').fill(text)
  await customer.getByRole('button', { name: 'Send' }).click()
  await customer.locator('[data-konstruct-message="visitor"]').filter({ hasText: text }).waitFor()
}

/** The admin's page still is the very document it signed in with. */
async function notReloaded(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload === true)
}

function watch(page: Page, who: string) {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${who} console: ${m.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`${who} page error: ${error.message}`))
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${who} ${r.status()} ${r.url()}`)
  })
}

beforeAll(async () => {
  e2e = await startE2E()
  ;({ server: site, url: siteUrl } = await startCustomerSite(e2e.stack.url, WIDGET_KEY))

  // Two separate browser contexts: no shared cookies or storage between admin and customer.
  admin = await (await e2e.newContext()).newPage()
  customer = await (await e2e.newContext()).newPage()
  // Every step waits for something to travel page → function/database → Realtime → other page.
  for (const page of [admin, customer]) page.context().setDefaultTimeout(15_000)
  watch(admin, 'admin')
  watch(customer, 'customer')
}, 180_000)

// A failed step leaves both pages on disk, and what the browsers complained about in the log.
afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  const step = ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
  await screenshot(admin, `widget-to-portal-FAILED-${step}-admin`).catch(() => {})
  await screenshot(customer, `widget-to-portal-FAILED-${step}-customer`).catch(() => {})
  console.log('[e2e widget-to-portal] failed step; browser problems so far:', JSON.stringify(problems, null, 2))
})

afterAll(async () => {
  console.log('[e2e widget-to-portal] setup ms', JSON.stringify(e2e?.timings), 'steps ms', JSON.stringify(timings))
  await new Promise((resolve) => site?.close(resolve))
  await e2e?.close()
})

describe('a widget conversation, watched and taken over live in the portal', () => {
  it('the admin has the (empty) conversations list open', async () => {
    await signIn(admin, DEMO.email, DEMO.password)
    await admin.waitForURL(`**/t/${DEMO.tenantSlug}/conversations`)
    await waitLive(admin)
    await admin.getByText('No conversations yet').waitFor()
    await admin.evaluate(() => {
      ;(window as unknown as { __noReload?: boolean }).__noReload = true
    })
  })

  it("a customer's first message through the widget appears in the admin's list without a reload", async () => {
    await customer.goto(siteUrl)
    await customer.getByRole('button', { name: 'Chat', exact: true }).click()
    await customer.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()

    const started = Date.now()
    await customerSends('How do refunds work?')
    const row = rowsOf(admin).first()
    await row.waitFor()
    timings.newConversationInList = Date.now() - started
    conversationId = (await row.getAttribute('data-conversation-id')) ?? ''
    expect(conversationId).toMatch(/^[0-9a-f-]{36}$/)
    expect(await row.locator('.contact').textContent()).toBe('Visitor')
    expect(await row.textContent()).toContain('Web chat')

    // The agent answers the customer in the widget, and the list follows to the answer.
    await widgetAnswers(customer).first().filter({ hasText: 'full refund within 30 days' }).waitFor({ timeout: 30_000 })
    timings.firstAnswerInWidget = Date.now() - started
    await row.locator('.preview').filter({ hasText: 'Offline answer' }).waitFor()
    expect(await rowsOf(admin).count()).toBe(1)
    expect(await notReloaded(admin)).toBe(true)
    await screenshot(admin, 'widget-to-portal-list-desktop')
  })

  it('the admin opens it; the next message and the agent answer arrive live in the open conversation', async () => {
    await rowsOf(admin).first().locator('a').click()
    await admin.waitForURL(`**/t/${DEMO.tenantSlug}/conversations/${conversationId}`)
    await waitLive(admin)
    await logOf(admin).nth(1).waitFor()
    expect(await authorsOf(admin)).toEqual(['contact', 'agent'])
    await status(admin).filter({ hasText: 'Agent answering' }).waitFor()

    const started = Date.now()
    await customerSends('How long does shipping take?')
    await admin.locator('li[data-author="contact"]').filter({ hasText: 'How long does shipping take?' }).waitFor()
    timings.messageInOpenConversation = Date.now() - started
    await agentAnswers(admin).nth(1).filter({ hasText: 'Offline answer' }).waitFor({ timeout: 30_000 })
    timings.answerInOpenConversation = Date.now() - started
    expect(await authorsOf(admin)).toEqual(['contact', 'agent', 'contact', 'agent'])
    expect(await agentAnswers(admin).nth(1).textContent()).toContain('2 to 4 business days')
    await widgetAnswers(customer).nth(1).filter({ hasText: '2 to 4 business days' }).waitFor()
    expect(await widgetOrder(customer)).toEqual(['visitor', 'agent', 'visitor', 'agent'])
    expect(await notReloaded(admin)).toBe(true)
    await screenshot(admin, 'widget-to-portal-conversation-desktop')
  })

  it("the admin takes over and replies; the reply appears live in the customer's widget", async () => {
    await admin.getByRole('button', { name: 'Take over' }).click()
    await status(admin).filter({ hasText: 'Human handling' }).waitFor()
    // The widget learns live that a human handles the conversation now.
    await widgetHandledBy(customer, 'human').waitFor()
    await recordWidgetStatus(customer)

    // While a human has it, the customer's message reaches the admin and the agent stays silent.
    await customerSends('Can I talk to a person?')
    await admin.locator('li[data-author="contact"]').filter({ hasText: 'Can I talk to a person?' }).waitFor()
    // The widget is honest about who answers: no "typing", a team member will reply.
    await expect.poll(() => widgetStatus(customer).innerText()).toBe('A team member will reply here.')
    await screenshot(customer, 'widget-to-portal-human-handles-widget')

    const reply = 'Hi, this is Ada from Acme Shoes. Happy to help!'
    const started = Date.now()
    await admin.getByLabel(/Reply as/).fill(reply)
    await admin.getByRole('button', { name: 'Send reply' }).click()
    await admin.locator('li[data-author="member"]').filter({ hasText: reply }).waitFor()
    await widgetMemberReplies(customer).filter({ hasText: reply }).waitFor()
    timings.humanReplyInWidget = Date.now() - started
    await expect.poll(() => admin.getByLabel(/Reply as/).inputValue()).toBe('')
    // The human's reply follows the customer's question; no agent answer came in between.
    expect(await widgetOrder(customer)).toEqual(['visitor', 'agent', 'visitor', 'agent', 'visitor', 'member'])
    expect(await widgetMessages(customer).last().textContent()).toContain(reply)
    expect(await authorsOf(admin)).toEqual(['contact', 'agent', 'contact', 'agent', 'contact', 'member'])
    // Labelled as a team member's, for the eyes and for screen readers; the agent's answers
    // keep theirs.
    const memberReply = widgetMemberReplies(customer).last()
    expect(await memberReply.locator('[data-konstruct-author]').innerText()).toBe('Team member')
    expect(await memberReply.locator('.kw-sr').textContent()).toBe('Team member: ')
    expect(await widgetAnswers(customer).first().locator('.kw-sr').textContent()).toBe('Agent: ')
    expect(await widgetAnswers(customer).first().locator('[data-konstruct-author]').count()).toBe(0)
    // The note is gone with the reply, and "typing" never showed while the human had it.
    await expect.poll(() => widgetStatus(customer).innerText()).toBe('')
    const seen = await widgetStatusSeen(customer)
    expect(seen).toContain('A team member will reply here.')
    expect(seen.filter((text) => /typing/i.test(text))).toEqual([])
    await screenshot(customer, 'widget-to-portal-human-reply-widget')
  })

  it("the admin releases; the agent answers the customer's next message again", async () => {
    await admin.getByRole('button', { name: 'Release to agent' }).click()
    await status(admin).filter({ hasText: 'Agent answering' }).waitFor()
    // The widget learns live that the agent answers again.
    await widgetHandledBy(customer, 'open').waitFor()
    await recordWidgetStatus(customer)

    const started = Date.now()
    await customerSends('How do I reset my password?')
    await admin.locator('li[data-author="contact"]').filter({ hasText: 'How do I reset my password?' }).waitFor()
    // The agent's third answer (the human's reply in between is the member's, not the agent's).
    await widgetAnswers(customer).nth(2).filter({ hasText: 'Offline answer' }).waitFor({ timeout: 30_000 })
    expect(await widgetAnswers(customer).nth(2).textContent()).toContain('Forgot password')
    await agentAnswers(admin).nth(2).filter({ hasText: 'Offline answer' }).waitFor()
    timings.answerAfterRelease = Date.now() - started
    expect(await authorsOf(admin)).toEqual([
      'contact',
      'agent',
      'contact',
      'agent',
      'contact',
      'member',
      'contact',
      'agent',
    ])
    expect(await widgetOrder(customer)).toEqual([
      'visitor',
      'agent',
      'visitor',
      'agent',
      'visitor',
      'member',
      'visitor',
      'agent',
    ])
    // With the agent back, the widget no longer says a team member will reply.
    expect(await widgetStatusSeen(customer)).not.toContain('A team member will reply here.')

    // The database agrees: one conversation, four messages in, three agent answers (none while
    // a human had it) and the one human reply.
    const rows = await e2e.stack.db.pg.query<{ author_kind: string; n: number }>(
      `select m.author_kind, count(*)::int as n from app.messages m
       join app.conversations c on c.id = m.conversation_id
       where c.connection_id = $1 group by m.author_kind order by m.author_kind`,
      [DEMO.webChatId],
    )
    expect(rows.rows).toEqual([
      { author_kind: 'agent', n: 3 },
      { author_kind: 'contact', n: 4 },
      { author_kind: 'member', n: 1 },
    ])
    // Still one conversation in the list beside it (the inbox is a split view), and the
    // admin's page was never reloaded.
    expect(await rowsOf(admin).count()).toBe(1)
    await rowsOf(admin).first().locator('.preview').filter({ hasText: 'Offline answer' }).waitFor()
    expect(await notReloaded(admin)).toBe(true)
    await screenshot(customer, 'widget-to-portal-after-release-widget')
    expect(problems).toEqual([])
  })
})
