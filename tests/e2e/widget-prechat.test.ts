// The widget's pre-chat form, switched on in the channel's settings: a visitor on a
// customer page gives a name (and optionally an email) before the first message; the
// name lands on the visitor's own contact, so the inbox shows it instead of "Visitor",
// and a reload does not ask again. The server enforces it: a script posting to the web-chat
// function directly is refused until it gives a name, and a widget that believed the form
// filled in shows the form again with the server's words.
import type { Server } from 'node:http'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
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

  it('refuses a script that skips the form: no message is stored until the visitor names itself', async () => {
    const visitor = createClient(stack.url, stack.keys.publishableKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      db: { schema: 'api' },
      realtime: { transport: WebSocket as never },
    })
    const signedIn = await visitor.auth.signInAnonymously()
    if (signedIn.error || !signedIn.data.session) throw new Error('anonymous sign-in failed')
    const visitorId = signedIn.data.session.user.id
    const post = () =>
      fetch(`${stack.url}/functions/v1/web-chat/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${signedIn.data.session!.access_token}`,
          'x-widget-key': WIDGET_KEY,
        },
        body: JSON.stringify({ text: 'Skipping the form' }),
      })
    const refused = await post()
    expect(refused.status).toBe(428)
    expect(await refused.json()).toEqual({
      error: 'prechat_required',
      message: 'Please tell us your name before your first message.',
    })
    const stored = () =>
      stack.db.pg.query<{ n: number }>(
        `select count(*)::int as n from app.messages m join app.conversations v on v.id = m.conversation_id
         where v.connection_id = $1 and v.thread_key = $2`,
        [WEB_CHAT, visitorId],
      )
    expect((await stored()).rows[0]!.n).toBe(0)

    const named = await visitor.rpc('set_visitor_profile', { widget_key: WIDGET_KEY, display_name: 'Fox Mulder' })
    expect(named.error).toBeNull()
    expect((await post()).status).toBe(202)
    expect((await stored()).rows[0]!.n).toBe(1)
  })

  it("shows the form again, with the server's words, when the browser wrongly believed it filled in", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    context.setDefaultTimeout(15_000)
    await context.addInitScript((key) => localStorage.setItem(`konstruct:webchat:${key}:introduced`, '1'), WIDGET_KEY)
    const fresh = await context.newPage()
    await fresh.goto(siteUrl)
    await fresh.getByRole('button', { name: 'Chat', exact: true }).click()
    const message = fresh.getByLabel('Your message')
    await message.waitFor()
    await message.fill('Hello without a name')
    await fresh.getByRole('button', { name: 'Send' }).click()
    await fresh.getByLabel('Your name').waitFor()
    await expect
      .poll(() => fresh.locator('[data-konstruct-status]').innerText())
      .toBe('Please tell us your name before your first message.')
    await fresh.getByLabel('Your name').fill('Walter Skinner')
    await fresh.getByRole('button', { name: 'Start chat' }).click()
    await message.waitFor()
    expect(await message.inputValue()).toBe('Hello without a name')
    await fresh.getByRole('button', { name: 'Send' }).click()
    await fresh.locator('[data-konstruct-message="visitor"]').first().waitFor()
    await context.close()
  })
})
