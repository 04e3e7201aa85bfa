// The widget's pre-chat form, switched on in the channel's settings: a visitor on a
// customer page gives a name (and optionally an email) before the first message; the
// name lands on the visitor's own contact, so the inbox shows it instead of "Visitor",
// and a reload does not ask again.
import type { Server } from 'node:http'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../support/stack.ts'
import { startCustomerSite } from './support/customer-site.ts'

const WIDGET_KEY = 'wk_demo_konstruct_widget_key'
const WEB_CHAT = '30000000-0000-4000-8000-000000000001'

let stack: TestStack
let site: Server
let siteUrl: string
let browser: Browser
let page: Page

beforeAll(async () => {
  stack = await startTestStack({ functionEnv: { OPENAI_BASE_URL: '', OPENAI_API_KEY: '' } })
  await stack.db.asOwner(async (tx) => {
    await tx.query(
      `update app.channel_connections set settings = settings || '{"prechat_form": true}'::jsonb where id = $1`,
      [WEB_CHAT],
    )
  })
  ;({ server: site, url: siteUrl } = await startCustomerSite(stack.url, WIDGET_KEY))
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  })
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  context.setDefaultTimeout(15_000)
  page = await context.newPage()
}, 90_000)

afterAll(async () => {
  await browser?.close().catch(() => {})
  await new Promise((resolve) => site?.close(resolve))
  await stack?.close()
})

describe('the pre-chat form', () => {
  it('asks a name first, then lets the visitor write, and the contact carries the name', async () => {
    await page.goto(siteUrl)
    await page.getByRole('button', { name: 'Chat', exact: true }).click()
    const name = page.getByLabel('Your name')
    await name.waitFor()
    expect(await page.getByLabel('Your message').isVisible()).toBe(false)
    await page.getByRole('button', { name: 'Start chat' }).click()
    await expect.poll(() => page.locator('[data-konstruct-status]').innerText()).toBe('Please enter your name.')

    await name.fill('Dana Scully')
    await page.getByLabel('Email (optional)').fill('Dana@Example.test')
    await page.getByRole('button', { name: 'Start chat' }).click()
    const message = page.getByLabel('Your message')
    await message.waitFor()
    expect(await name.isVisible()).toBe(false)
    await message.fill('Hello, I have a question')
    await page.getByRole('button', { name: 'Send' }).click()
    await page.locator('[data-konstruct-message="agent"]').first().waitFor({ timeout: 30_000 })

    const rows = await stack.db.pg.query<{ name: string; email: string; conversations: number }>(
      `select c.display_name as name, c.email,
         (select count(*)::int from app.conversations v where v.contact_id = c.id) as conversations
       from app.contacts c join app.contact_identities i on i.contact_id = c.id
       where i.channel = 'web_chat' and c.tenant_id = (select tenant_id from app.channel_connections where id = $1)
         and c.display_name = 'Dana Scully'`,
      [WEB_CHAT],
    )
    expect(rows.rows).toEqual([{ name: 'Dana Scully', email: 'dana@example.test', conversations: 1 }])
  })

  it('does not ask again after a reload', async () => {
    await page.reload()
    await page.getByRole('button', { name: 'Chat', exact: true }).click()
    await page.getByLabel('Your message').waitFor()
    await page.locator('[data-konstruct-widget][data-konstruct-live="true"]').waitFor()
    expect(await page.getByLabel('Your name').isVisible()).toBe(false)
  })
})
