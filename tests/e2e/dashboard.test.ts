// The dashboard follows the work, in two browser contexts: the demo admin keeps the
// dashboard open while a customer chats through the widget on a shop's page. The figures
// move without a reload: a conversation and its messages, answered without a human, a
// first-response time; then the customer asks for a person, and the hand-off shows as
// waiting and the share answered without a human drops. The nav and the period picker lead
// to the same figures.
import type { Server } from 'node:http'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { startCustomerSite } from './support/customer-site.ts'

const WIDGET_KEY = 'wk_demo_konstruct_widget_key'
const base = `/t/${DEMO.tenantSlug}`

let e2e: E2E
let site: Server
let siteUrl: string
let admin: Page
let customer: Page

const figure = (name: string) => admin.getByTestId(name)
/** Waits until a figure on the admin's dashboard reads `text`. */
async function figureReads(name: string, text: string | RegExp): Promise<void> {
  await expect.poll(async () => (await figure(name).textContent())?.trim(), { timeout: 20_000 }).toMatch(text)
}

async function customerSends(text: string): Promise<void> {
  await customer.getByLabel('Your message').fill(text)
  await customer.getByRole('button', { name: 'Send' }).click()
  await customer.locator('[data-konstruct-message="visitor"]').filter({ hasText: text }).waitFor()
}

beforeAll(async () => {
  e2e = await startE2E()
  ;({ server: site, url: siteUrl } = await startCustomerSite(e2e.stack.url, WIDGET_KEY))
  admin = await (await e2e.newContext()).newPage()
  customer = await (await e2e.newContext()).newPage()
  for (const page of [admin, customer]) page.context().setDefaultTimeout(15_000)
}, 400_000)

afterAll(async () => {
  await new Promise((resolve) => site?.close(resolve))
  await e2e?.close()
})

describe('the dashboard', () => {
  it('is in the nav and starts at zero for a tenant without conversations', async () => {
    await signIn(admin, DEMO.email, DEMO.password, `${base}/conversations`)
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
    await admin.waitForURL(`**${base}/dashboard`)
    await admin.getByRole('heading', { name: 'Dashboard' }).waitFor()
    await waitLive(admin)
    expect(await figure('conversations').textContent()).toBe('0')
    expect(await figure('messages').textContent()).toBe('0')
    expect(await figure('share').textContent()).toBe('—')
    expect(await figure('median').textContent()).toMatch(/—/)
    expect(await figure('waiting').textContent()).toBe('0')
    await admin.evaluate(() => {
      ;(window as unknown as { __noReload?: boolean }).__noReload = true
    })
  })

  it("counts a customer's conversation answered by the agent, live", async () => {
    await customer.goto(siteUrl)
    await customer.getByRole('button', { name: 'Chat', exact: true }).click()
    await customer.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    await customerSends('How do refunds work?')
    await customer.locator('[data-konstruct-message="agent"]').first().waitFor({ timeout: 30_000 })

    await figureReads('conversations', '1')
    await figureReads('messages', '2')
    await figureReads('share', '100%')
    await figureReads('median', /^\d+ s$/)
    const byChannel = admin.getByTestId('by-channel')
    expect(
      await byChannel
        .getByRole('row', { name: /Web chat/ })
        .getByRole('cell')
        .first()
        .textContent(),
    ).toBe('1')
    expect(await admin.getByTestId('by-agent').locator('tbody tr').count()).toBe(1)
    expect(await admin.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true)
    await screenshot(admin, 'dashboard-after-a-conversation')
  })

  it('shows the hand-off waiting once the customer asks for a person', async () => {
    await customerSends('I want to talk to a human')
    await figureReads('waiting', '1')
    await figureReads('share', '0%')
    expect(Number(await figure('messages').textContent())).toBeGreaterThanOrEqual(3)
    await admin.getByRole('link', { name: 'Open the queue' }).waitFor()
  })

  it('answers for a chosen period', async () => {
    await admin.getByLabel('Period').selectOption('90d')
    await admin.waitForURL(`**${base}/dashboard?period=90d`)
    await figureReads('conversations', '1')
    await open(admin, `${base}/dashboard?period=billing`)
    expect(await figure('conversations').textContent()).toBe('1')
    expect(await admin.getByText(/^From \d{4}-\d{2}-01 to/).count()).toBe(1)
  })
})
