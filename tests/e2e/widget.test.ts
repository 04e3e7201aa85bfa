// The web chat widget in a real browser: a customer's page (served from another origin on
// 127.0.0.1) embeds the one script tag the portal hands out; a visitor opens the chat,
// writes, and the agent's answer (offline mode, quoting the seeded knowledge) appears on
// the page live over Realtime. A reload keeps the conversation. With the agent paused, no
// "typing" promises an answer that will not come.
import type { Server } from 'node:http'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../support/stack.ts'
import { seriousViolations } from './support/axe.ts'
import { screenshot } from './support/harness.ts'
import { startCustomerSite } from './support/customer-site.ts'

const WIDGET_KEY = 'wk_demo_konstruct_widget_key'
// The demo tenant's agent (Ava), which answers the demo web chat.
const AGENT_ID = '20000000-0000-4000-8000-000000000001'

let stack: TestStack
let site: Server
let siteUrl: string
let browser: Browser
let context: BrowserContext
let page: Page
const problems: string[] = []
const timings: Record<string, number> = {}

beforeAll(async () => {
  let t = Date.now()
  // No model anywhere: the agent answers in its honest offline mode.
  stack = await startTestStack({ functionEnv: { OPENAI_BASE_URL: '', OPENAI_API_KEY: '' } })
  timings.stack = Date.now() - t
  ;({ server: site, url: siteUrl } = await startCustomerSite(stack.url, WIDGET_KEY))

  t = Date.now()
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  })
  timings.browser = Date.now() - t
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  context.setDefaultTimeout(15_000)
  // Layout shifts of the customer's own page (not of the widget's insides), as Chromium
  // reports them to the page (the Layout Instability API, what CLS is made of).
  await context.addInitScript(() => {
    const shifts: string[] = []
    ;(window as unknown as { hostShifts: string[] }).hostShifts = shifts
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as Array<PerformanceEntry & { sources?: Array<{ node?: Node | null }> }>) {
        for (const source of entry.sources ?? []) {
          const node = source.node ?? null
          const element = node instanceof Element ? node : (node?.parentElement ?? null)
          if (!element?.closest('[data-konstruct-widget]')) shifts.push(element?.tagName ?? '(removed node)')
        }
      }
    }).observe({ type: 'layout-shift', buffered: true })
  })
  page = await context.newPage()
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`)
  })
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
}, 90_000)

afterAll(async () => {
  console.log('[e2e widget] setup ms', JSON.stringify(timings))
  await browser?.close().catch(() => {})
  await new Promise((resolve) => site?.close(resolve))
  await stack?.close()
})

const agentMessages = (p: Page) => p.locator('[data-konstruct-message="agent"]')
const order = (p: Page) =>
  p.locator('[data-konstruct-message]').evaluateAll((els) => els.map((el) => el.getAttribute('data-konstruct-message')))
const visitorMessages = (p: Page) => p.locator('[data-konstruct-message="visitor"]')

/** Records every text the widget's status line is given from now on (even ones replaced at once). */
async function recordWidgetStatus(p: Page): Promise<void> {
  await p.evaluate(() => {
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
const widgetStatusSeen = (p: Page) =>
  p.evaluate(() => (window as unknown as { __statusSeen?: string[] }).__statusSeen ?? [])

describe('the web chat widget on a customer page', () => {
  it('opens from its launcher with a labelled input that has focus', async () => {
    await page.goto(siteUrl)
    const launch = page.getByRole('button', { name: 'Chat', exact: true })
    await launch.click()
    await expect.poll(() => launch.getAttribute('aria-expanded')).toBe('true')
    const input = page.getByLabel('Your message')
    await input.waitFor()
    expect(await input.evaluate((el) => el === document.activeElement)).toBe(true)
    // Joined the visitor's private Realtime topic.
    await page.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    // Escape closes it and gives focus back to the launcher; the launcher opens it again.
    await input.press('Escape')
    await expect.poll(() => launch.getAttribute('aria-expanded')).toBe('false')
    expect(await launch.evaluate((el) => el === document.activeElement)).toBe(true)
    await launch.press('Enter')
    await expect.poll(() => launch.getAttribute('aria-expanded')).toBe('true')
  })

  it("sends a message and shows the agent's answer live, quoting the knowledge base", async () => {
    const started = Date.now()
    await page.getByLabel('Your message').fill('How do refunds work?')
    await page.getByRole('button', { name: 'Send' }).click()
    await visitorMessages(page).filter({ hasText: 'How do refunds work?' }).waitFor()
    await agentMessages(page).first().waitFor({ timeout: 30_000 })
    timings.answer = Date.now() - started
    const answer = await agentMessages(page).first().innerText()
    expect(answer).toContain('Offline answer')
    expect(answer).toContain('full refund within 30 days')
    expect(await page.getByLabel('Your message').inputValue()).toBe('')
    // Question above answer, and no "typing" left over once the answer is there.
    expect(await order(page)).toEqual(['visitor', 'agent'])
    await expect.poll(() => page.locator('[data-konstruct-status]').innerText()).toBe('')
    await screenshot(page, 'widget-answer-desktop')

    // Stored once, in the demo tenant's web chat, answered once.
    const rows = await stack.db.pg.query<{ direction: string; n: number }>(
      `select m.direction, count(*)::int as n from app.messages m
       join app.conversations c on c.id = m.conversation_id
       where c.connection_id = '30000000-0000-4000-8000-000000000001' group by m.direction order by m.direction`,
    )
    expect(rows.rows).toEqual([
      { direction: 'in', n: 1 },
      { direction: 'out', n: 1 },
    ])
  })

  it('has no serious axe violation, open with a conversation, on a light and on a dark page', async () => {
    // The open panel: its log with the question and the answer, the status line and the form.
    await page.getByRole('dialog', { name: 'Chat' }).waitFor()
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme })
      expect(await seriousViolations(page), colorScheme).toEqual([])
    }
    await page.emulateMedia({ colorScheme: 'light' })
  })

  it("moves nothing of the customer's page while it loads, opens and answers", async () => {
    // Since the page loaded: the script, the launcher, the open panel, a question and its answer.
    const hostShifts = () => page.evaluate(() => (window as unknown as { hostShifts: string[] }).hostShifts)
    expect(await hostShifts()).toEqual([])
    // The probe itself sees a shift when there is one: a banner the page puts above its content.
    await page.evaluate(() => {
      const banner = document.createElement('p')
      banner.textContent = 'Free delivery this week'
      banner.id = 'late-banner'
      document.body.prepend(banner)
    })
    await expect.poll(async () => (await hostShifts()).length).toBeGreaterThan(0)
    await page.evaluate(() => document.getElementById('late-banner')?.remove())
  })

  it('keeps the conversation across a reload', async () => {
    await page.reload()
    // The visitor token is remembered: the widget resumes and loads the history by itself.
    await visitorMessages(page).filter({ hasText: 'How do refunds work?' }).waitFor({ state: 'attached' })
    await agentMessages(page).filter({ hasText: 'full refund within 30 days' }).waitFor({ state: 'attached' })
    expect(await visitorMessages(page).count()).toBe(1)
    expect(await agentMessages(page).count()).toBe(1)

    // And the conversation goes on live after the reload.
    await page.getByRole('button', { name: 'Chat', exact: true }).click()
    await page.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    await page.getByLabel('Your message').fill('What does the Team plan cost per month?')
    await page.getByLabel('Your message').press('Enter')
    await visitorMessages(page).filter({ hasText: 'What does the Team plan cost' }).waitFor()
    await agentMessages(page).filter({ hasText: '99 euros per month' }).waitFor({ timeout: 30_000 })
    expect(await visitorMessages(page).count()).toBe(2)
    expect(await agentMessages(page).count()).toBe(2)
    expect(await order(page)).toEqual(['visitor', 'agent', 'visitor', 'agent'])
    expect(problems).toEqual([])
  })

  it('says no "typing" when no answer will come: the agent paused', async () => {
    const admin = stack.anonClient()
    const { error: signInError } = await admin.auth.signInWithPassword({
      email: 'admin@konstruct.local',
      password: 'konstruct-demo',
    })
    expect(signInError).toBeNull()
    const { error: pauseError } = await admin.rpc('pause_agent', { agent_id: AGENT_ID })
    expect(pauseError).toBeNull()
    try {
      await recordWidgetStatus(page)
      const posted = page.waitForResponse(
        (r) => r.url().endsWith('/web-chat/messages') && r.request().method() === 'POST',
      )
      await page.getByLabel('Your message').fill('Is anyone there?')
      await page.getByRole('button', { name: 'Send' }).click()
      const response = await posted
      expect(await response.json()).toMatchObject({ status: 'open', agent_reply_expected: false })
      await visitorMessages(page).filter({ hasText: 'Is anyone there?' }).waitFor()
      await expect
        .poll(() => page.locator('[data-konstruct-status]').innerText())
        .toBe('We\u2019ll get back to you soon.')
      const seen = await widgetStatusSeen(page)
      expect(seen.filter((text) => /typing/i.test(text))).toEqual([])
      // No agent answer, and none pending.
      expect(await agentMessages(page).count()).toBe(2)
      await screenshot(page, 'widget-agent-paused')
    } finally {
      const { error } = await admin.rpc('resume_agent', { agent_id: AGENT_ID })
      expect(error).toBeNull()
    }
    expect(problems).toEqual([])
  })
})
