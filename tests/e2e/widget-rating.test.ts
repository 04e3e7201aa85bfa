// The widget as a tenant styles it and a visitor uses it, in three browser contexts: the
// demo admin gives the web chat a title, a colour and a Markdown greeting on the Channels
// page; a customer's widget shows them, renders the agent's and the team's Markdown safely
// (no HTML from a message, no javascript: link), never moves the shop's own page, and once
// the admin closes the conversation asks for a rating, answered with the keyboard alone. The
// rating counts once and shows on the dashboard; another visitor cannot rate that conversation.
import type { Server } from 'node:http'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, screenshot, signIn, startE2E, type E2E } from './support/harness.ts'
import { startCustomerSite } from './support/customer-site.ts'

const WIDGET_KEY = 'wk_demo_konstruct_widget_key'
const base = `/t/${DEMO.tenantSlug}`

let e2e: E2E
let site: Server
let siteUrl: string
let admin: Page
let customer: Page
let stranger: Page

const agentAnswers = (page: Page) => page.locator('[data-konstruct-message="agent"]')
const memberReplies = (page: Page) => page.locator('[data-konstruct-message="member"]')

/** Where the shop's own content sits on its page. */
const shopLayout = (page: Page) =>
  page.evaluate(() => {
    const r = document.querySelector('main')!.getBoundingClientRect()
    return { x: r.x, y: r.y, width: r.width, height: r.height, scroll: document.documentElement.scrollHeight }
  })

/** POST /rating with this page's visitor session, as a script on the page could. */
const rateAs = (page: Page, rating: number) =>
  page.evaluate(
    async ({ url, key, rating }) => {
      const session = JSON.parse(localStorage.getItem(`konstruct:webchat:${key}`) ?? 'null') as {
        access_token: string
      } | null
      const res = await fetch(`${url}/functions/v1/web-chat/rating`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${session?.access_token ?? ''}`,
          'x-widget-key': key,
        },
        body: JSON.stringify({ rating }),
      })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    },
    { url: e2e.stack.url, key: WIDGET_KEY, rating },
  )

beforeAll(async () => {
  e2e = await startE2E()
  ;({ server: site, url: siteUrl } = await startCustomerSite(e2e.stack.url, WIDGET_KEY))
  admin = await (await e2e.newContext()).newPage()
  customer = await (await e2e.newContext()).newPage()
  stranger = await (await e2e.newContext()).newPage()
  for (const page of [admin, customer, stranger]) page.context().setDefaultTimeout(15_000)
}, 400_000)

afterAll(async () => {
  await new Promise((resolve) => site?.close(resolve))
  await e2e?.close()
})

describe('the widget, styled by the tenant and rated by its visitor', () => {
  it("the admin sets the widget's title, colour and greeting", async () => {
    await signIn(admin, DEMO.email, DEMO.password, `${base}/channels`)
    const card = admin.locator(`section[data-channel-id="${DEMO.webChatId}"]`)
    await card.getByText('Widget settings', { exact: true }).click()
    await card.getByLabel('Colour (optional, like #1f2937)').fill('bad colour')
    await card.getByRole('button', { name: 'Save widget settings' }).click()
    await card.getByText('A colour looks like #1f2937.').waitFor()
    await card.getByLabel("Title in the widget's header (optional)").fill('Acme help')
    await card.getByLabel('Colour (optional, like #1f2937)').fill('#6D28D9')
    await card.getByLabel('Greeting (optional)').fill('Hi! Ask me about **refunds**.')
    await card.getByRole('button', { name: 'Save widget settings' }).click()
    await card.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
  })

  it('the widget wears them, and opening it never moves the shop page', async () => {
    await customer.goto(siteUrl)
    const before = await shopLayout(customer)
    const launch = customer.getByRole('button', { name: 'Chat', exact: true })
    await launch.click()
    await customer.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    const panel = customer.getByRole('dialog', { name: 'Chat' })
    await panel.getByRole('heading', { name: 'Acme help' }).waitFor()
    expect(await launch.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(109, 40, 217)')
    // White text on the dark violet (contrast above 4.5:1).
    expect(await launch.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(255, 255, 255)')
    const greeting = agentAnswers(customer).first()
    expect(await greeting.locator('strong').textContent()).toBe('refunds')
    expect(await greeting.textContent()).not.toContain('**')
    expect(await shopLayout(customer)).toEqual(before)
  })

  it("renders the agent's answer as Markdown", async () => {
    await customer.getByLabel('Your message').fill('How do refunds work?')
    await customer.keyboard.press('Enter')
    const answer = agentAnswers(customer).filter({ hasText: 'full refund within 30 days' })
    await answer.waitFor({ timeout: 30_000 })
    // The offline answer quotes the knowledge base as a Markdown quote.
    expect(await answer.locator('blockquote').textContent()).toContain('full refund within 30 days')
    expect(await answer.textContent()).not.toMatch(/^\s*>/m)
  })

  it("renders a team member's Markdown, and nothing of the HTML or unsafe links in it", async () => {
    await open(admin, `${base}/conversations`)
    await admin.locator('ul.conversation-list > li[data-conversation-id]').first().locator('a').first().click()
    await admin.getByRole('button', { name: 'Take over' }).click()
    const reply =
      'See **our policy**: [refunds](https://shop.example/refunds), <img src=x onerror="window.__owned=1"> and [this](javascript:window.__owned=2)'
    await admin.getByLabel(/Reply as/).fill(reply)
    await admin.getByRole('button', { name: 'Send reply' }).click()
    const shown = memberReplies(customer).filter({ hasText: 'our policy' })
    await shown.waitFor()
    expect(await shown.locator('strong').textContent()).toBe('our policy')
    expect(await shown.getByRole('link', { name: 'refunds' }).getAttribute('href')).toBe('https://shop.example/refunds')
    expect(await shown.getByRole('link', { name: 'refunds' }).getAttribute('rel')).toContain('noopener')
    expect(await shown.locator('img').count()).toBe(0)
    expect(await shown.textContent()).toContain('<img src=x onerror="window.__owned=1">')
    expect(await shown.locator('a[href^="javascript"]').count()).toBe(0)
    expect(await shown.textContent()).toContain('[this](javascript:window.__owned=2)')
    expect(await customer.evaluate(() => (window as unknown as { __owned?: number }).__owned)).toBeUndefined()
  })

  it('asks for a rating once the admin closes the conversation, answered with the keyboard', async () => {
    const rating = customer.locator('[data-konstruct-rating]')
    expect(await rating.isVisible()).toBe(false)
    // Too early: the conversation is still open.
    expect((await rateAs(customer, 5)).status).toBe(409)

    await admin.getByRole('button', { name: 'Close', exact: true }).click()
    await rating.waitFor()
    await rating.getByRole('radio', { name: /^1 star/ }).focus()
    for (let i = 0; i < 3; i++) await customer.keyboard.press('ArrowRight')
    expect(await rating.getByRole('radio', { name: /^4 stars/ }).isChecked()).toBe(true)
    await customer.keyboard.press('Tab')
    await customer.keyboard.type('Quick and kind.')
    await customer.keyboard.press('Tab')
    await customer.keyboard.press('Enter')
    await customer.getByText('Thank you for your rating.').waitFor()
    expect(await rating.isVisible()).toBe(false)
    await screenshot(customer, 'widget-rated')

    // Once only: a second rating changes nothing.
    expect(await rateAs(customer, 1)).toEqual({ status: 200, body: { rating: 4, duplicate: true } })
  })

  it('another visitor cannot rate that conversation', async () => {
    await stranger.goto(siteUrl)
    await stranger.getByRole('button', { name: 'Chat', exact: true }).click()
    await stranger.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    expect(await rateAs(stranger, 1)).toMatchObject({ status: 404, body: { error: 'no_conversation' } })
  })

  it('the dashboard shows the rating', async () => {
    await open(admin, `${base}/dashboard`)
    expect(await admin.getByTestId('rating').textContent()).toBe('4.0 / 5')
    expect(await admin.getByTestId('ratings').textContent()).toMatch(/^\s*1 rating\s*$/)
  })
})
