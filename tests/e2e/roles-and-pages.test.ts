// Members and roles in the browser: an admin invites, the invitation is accepted in a
// new browser after signing up, and the operator sees everything but can change
// nothing. Then every main page at desktop and phone width, light and dark.
import { createClient } from '@supabase/supabase-js'
import type { Page } from 'playwright-core'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DEMO,
  DESKTOP,
  PHONE,
  open,
  screenshot,
  sidewaysOverflow,
  signIn,
  startE2E,
  waitLive,
  type E2E,
} from './support/harness.ts'
import { ingest } from './support/ingest.ts'

let e2e: E2E
let admin: Page
let inviteLink: string
const operatorEmail = `operator-${Date.now()}@example.test`
const password = 'correct-horse-battery-staple'
let conversationId: string

beforeAll(async () => {
  // A web search provider is configured (never called here): the designer offers the switch.
  e2e = await startE2E({ functionEnv: { KONSTRUCT_WEB_SEARCH_URL: 'http://127.0.0.1:9' } })
  const context = await e2e.newContext()
  admin = await context.newPage()
  await signIn(admin, DEMO.email, DEMO.password, `/t/${DEMO.tenantSlug}/members`)
  const sent = await ingest(e2e.stack.serviceClient(), {
    connectionId: DEMO.webChatId,
    externalId: 'roles-1',
    thread: 'visitor-lin',
    name: 'Lin',
    text: 'Do you deliver on Sundays?',
  })
  conversationId = sent.conversation_id
}, 180_000)

afterAll(async () => {
  console.log('[e2e roles-and-pages] setup ms', JSON.stringify(e2e?.timings))
  await e2e?.close()
})

describe('members and roles', () => {
  it('refuses a bad email next to the field, then creates an invitation link', async () => {
    await admin.getByLabel('Email').fill('not-an-email')
    await admin.getByRole('button', { name: 'Create invitation' }).click()
    await expect.poll(() => admin.locator('#inv-email-error').textContent()).toMatch(/valid email/)

    await admin.getByLabel('Email').fill(operatorEmail)
    await admin.getByLabel('Role').selectOption('operator')
    await admin.getByRole('button', { name: 'Create invitation' }).click()
    const link = admin.getByRole('textbox', { name: 'Invitation link' })
    await link.waitFor()
    inviteLink = await link.inputValue()
    expect(inviteLink).toMatch(/\/invite\/inv_[0-9a-f]{48}$/)
    await admin.locator(`tr[data-invitation="${operatorEmail}"]`).waitFor()
    await screenshot(admin, 'members-desktop')
  })

  it('accepts the invitation in a new browser after signing up', async () => {
    const context = await e2e.newContext()
    const page = await context.newPage()
    await open(page, inviteLink)
    await page.getByRole('heading', { name: "You're invited" }).waitFor()
    await page.getByRole('link', { name: 'Create an account' }).click()
    await page.waitForURL(/\/signup/)
    await page.locator('html[data-hydrated="true"]').waitFor({ state: 'attached' })
    await page.getByLabel('Work email').fill(operatorEmail)
    await page.getByLabel('Password').fill(password)
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.waitForURL((url) => url.pathname.startsWith('/invite/'))
    expect(await page.locator('main').textContent()).toContain('Join Konstruct Demo as operator')
    await page.getByRole('button', { name: 'Join Konstruct Demo' }).click()
    await page.waitForURL(`**/t/${DEMO.tenantId}/conversations`)
    await page.locator('.conversation-list .contact', { hasText: 'Lin' }).waitFor()
    // Single use.
    await page.goto(inviteLink)
    await page.getByText('already been used').waitFor()
    await context.close()

    await admin.reload()
    await admin.locator(`tr[data-member="${operatorEmail}"]`).waitFor()
    expect(await admin.locator(`tr[data-invitation="${operatorEmail}"]`).count()).toBe(0)
  })

  it('shows an operator no controls they cannot use', async () => {
    const context = await e2e.newContext()
    const page = await context.newPage()
    await signIn(page, operatorEmail, password, `/t/${DEMO.tenantSlug}/agents`)
    await page.locator(`tr[data-agent-id="${DEMO.agentId}"]`).waitFor()
    for (const name of ['Edit', 'Pause', 'Delete', 'Design a new agent', /^Hire /]) {
      expect(
        await page
          .getByRole(typeof name === 'string' && name === 'Design a new agent' ? 'link' : 'button', { name })
          .count(),
      ).toBe(0)
    }
    // The agent's page is read only: disabled fields, no save.
    await page.getByRole('link', { name: 'Ava' }).click()
    await page.getByRole('heading', { name: 'Ava' }).waitFor()
    expect(await page.getByLabel('Name', { exact: true }).isDisabled()).toBe(true)
    expect(await page.getByRole('button', { name: /Save/ }).count()).toBe(0)
    await page.getByText('you can see this agent').waitFor()
    // Designing an agent is refused outright.
    const res = await page.goto(`/t/${DEMO.tenantSlug}/agents/new`)
    expect(res?.status()).toBe(403)
    // Conversations: watch, but no take over or reply.
    await page.goto(`/t/${DEMO.tenantSlug}/conversations/${conversationId}`)
    await page.getByText('Do you deliver on Sundays?').waitFor()
    expect(await page.getByRole('button', { name: 'Take over' }).count()).toBe(0)
    expect(await page.getByLabel(/Reply as/).count()).toBe(0)
    // Members and channels: no management.
    await page.goto(`/t/${DEMO.tenantSlug}/members`)
    expect(await page.getByRole('button', { name: 'Create invitation' }).count()).toBe(0)
    expect(await page.getByRole('button', { name: /^Remove/ }).count()).toBe(0)
    await page.goto(`/t/${DEMO.tenantSlug}/channels`)
    expect(await page.getByRole('button', { name: 'Disconnect' }).count()).toBe(0)
    await page.goto(`/t/${DEMO.tenantSlug}/knowledge`)
    expect(await page.getByRole('button', { name: 'Add source' }).count()).toBe(0)
    // The api refuses them anyway: a forged form post changes nothing.
    const forged = await page.evaluate(async (agentId) => {
      const body = new FormData()
      body.set('agent_id', agentId)
      const r = await fetch(`${location.pathname.replace(/\/knowledge$/, '/agents')}?/pause`, {
        method: 'POST',
        body,
        headers: { 'x-sveltekit-action': 'true' },
      })
      return r.json()
    }, DEMO.agentId)
    expect(forged.type).toBe('failure')
    expect(forged.status).toBe(403)
    await context.close()
  })
})

describe('agent designer and pages', () => {
  it('designs an agent in steps, with errors next to the field', async () => {
    await open(admin, `/t/${DEMO.tenantSlug}/agents/new`)
    await admin.getByLabel('Name', { exact: true }).fill('Hugo')
    await admin.getByLabel('Role').fill('Receptionist')
    await admin.getByRole('button', { name: 'Next' }).click()
    await admin.getByLabel('Instructions').fill('Greet visitors and book appointments.')
    await admin.getByRole('button', { name: 'Next' }).click()
    await admin.getByLabel(/Call web APIs/).check()
    await admin.getByLabel('Allowed hosts').fill('not a host!')
    await admin.getByLabel('Search the web').check()
    await admin.getByRole('button', { name: 'Next' }).click()
    await admin.getByRole('button', { name: 'Next' }).click()
    await admin.getByLabel('Monthly token budget').fill('50000')
    await admin.getByRole('button', { name: 'Create agent' }).click()
    // The error sends the user back to the tools step.
    await expect.poll(() => admin.locator('#a-hosts-error').textContent()).toMatch(/not a host name/)
    await admin.getByLabel('Allowed hosts').fill('api.example.com')
    await admin.getByRole('button', { name: 'Create agent' }).click()
    await admin.waitForURL(/\/agents\/[0-9a-f-]{36}\?created=1/)
    await admin.getByRole('heading', { name: 'Hugo' }).waitFor()
    await screenshot(admin, 'agent-designer-desktop')
    const [hugo] = (await e2e.stack.db.pg.query<{ tools: any }>(`select tools from app.agents where name = 'Hugo'`))
      .rows
    expect(hugo!.tools.web_search).toEqual({})
    expect(await admin.getByLabel('Search the web').isChecked()).toBe(true)

    await open(admin, `/t/${DEMO.tenantSlug}/agents`)
    const row = admin.locator('tr', { hasText: 'Hugo' })
    await row.getByRole('button', { name: 'Pause' }).click()
    await row.getByText('Paused').waitFor()
    await row.getByRole('button', { name: 'Resume' }).click()
    await row.getByText('Active').waitFor()
  })

  it('names stored settings that do not fit; a save repairs them and keeps what the designer does not show', async () => {
    const db = e2e.stack.db.pg
    const settingsOf = async () =>
      (
        await db.query<{ model_settings: any; tools: any }>(
          `select model_settings, tools from app.agents where id = $1`,
          [DEMO.agentId],
        )
      ).rows[0]!
    const saved = await settingsOf()
    // Written by hand in SQL: an unknown model setting, hosts as one string, an unknown tool.
    await db.query(`update app.agents set model_settings = $2, tools = $3 where id = $1`, [
      DEMO.agentId,
      JSON.stringify({ model: 'gpt-4o-mini', temperature: 0.4, fallback_model: 'gpt-4o', top_p: 0.9 }),
      JSON.stringify({
        knowledge_search: {},
        escalate_to_human: {},
        http_request: { allowed_hosts: 'api.example.com' },
        send_email: {},
      }),
    ])
    try {
      await open(admin, `/t/${DEMO.tenantSlug}/agents/${DEMO.agentId}`)
      const notice = admin.getByRole('note').filter({ hasText: 'do not fit' })
      await notice.getByText('tools.send_email: unknown, ignored.').waitFor()
      await notice.getByText(/^model_settings\.top_p: unknown/).waitFor()
      await notice.getByText(/^tools\.http_request\.allowed_hosts: Invalid input: expected array/).waitFor()
      expect(await admin.getByLabel(/Call web APIs/).isChecked()).toBe(false)
      await admin.getByRole('button', { name: 'Save changes' }).click()
      await admin.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      await expect.poll(() => notice.count()).toBe(0)
      const repaired = await settingsOf()
      expect(repaired.model_settings).toEqual({ model: 'gpt-4o-mini', temperature: 0.4, fallback_model: 'gpt-4o' })
      expect(repaired.tools).toEqual({ knowledge_search: {}, escalate_to_human: {} })
    } finally {
      await db.query(`update app.agents set model_settings = $2, tools = $3 where id = $1`, [
        DEMO.agentId,
        JSON.stringify(saved.model_settings),
        JSON.stringify(saved.tools),
      ])
    }
  })

  it('names a web chat whose stored websites do not fit; saving its widget settings sets who may use it', async () => {
    const db = e2e.stack.db.pg
    const settingsOf = async () =>
      (
        await db.query<{ settings: any }>(`select settings from app.channel_connections where id = $1`, [
          DEMO.webChatId,
        ])
      ).rows[0]!.settings
    const saved = await settingsOf()
    /** The widget's answer to a new visitor on a page of this origin. */
    const session = async (origin: string) => {
      const visitor = createClient(e2e.stack.url, e2e.stack.keys.publishableKey, {
        auth: { persistSession: false, autoRefreshToken: false },
        realtime: { transport: WebSocket as never },
      })
      const { data } = await visitor.auth.signInAnonymously()
      const response = await fetch(`${e2e.stack.url}/functions/v1/web-chat/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${data.session!.access_token}`, origin },
        body: JSON.stringify({ widget_key: 'wk_demo_konstruct_widget_key' }),
      })
      return { status: response.status, body: (await response.json()) as Record<string, any> }
    }
    // Written by hand in SQL: the websites as one string instead of a list, and an unknown key.
    await db.query(`update app.channel_connections set settings = $2 where id = $1`, [
      DEMO.webChatId,
      JSON.stringify({
        allowed_origins: 'https://shop.example',
        theme: 'dark',
        handoff_notify_user_ids: ['U0123ABCD'],
      }),
    ])
    try {
      expect((await session('https://shop.example')).status).toBe(403)
      await open(admin, `/t/${DEMO.tenantSlug}/channels`)
      const card = admin.locator(`section[data-channel-id="${DEMO.webChatId}"]`)
      const notice = card.getByTestId('settings-problems')
      await notice.getByText(/could not be read, so the widget answers on no website/).waitFor()
      await notice.getByText('settings.theme: unknown, ignored.').waitFor()
      expect(await card.getByTestId('widget-origins').textContent()).toMatch(/on no website/)

      await card.getByText('Widget settings', { exact: true }).click()
      await card.getByLabel('Greeting (optional)').fill('Hi from the shop!')
      // "Only these websites" with none named is refused: the widget stays closed.
      expect(await card.getByLabel('Only these websites').isChecked()).toBe(true)
      await card.getByRole('button', { name: 'Save widget settings' }).click()
      await card.getByText('Name at least one website, or choose any website.').waitFor()
      expect((await settingsOf()).allowed_origins).toBe('https://shop.example')

      await card.getByRole('textbox', { name: 'Websites' }).fill('https://Shop.example/ https://shop.example/checkout')
      await card.getByRole('button', { name: 'Save widget settings' }).click()
      await card.getByText('“https://shop.example/checkout” is not an origin like https://www.example.com.').waitFor()

      await card.getByRole('textbox', { name: 'Websites' }).fill('https://Shop.example/')
      await card.getByRole('button', { name: 'Save widget settings' }).click()
      await card.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      await expect.poll(() => notice.count()).toBe(0)
      expect(await settingsOf()).toEqual({
        greeting: 'Hi from the shop!',
        allowed_origins: ['https://shop.example'],
        handoff_notify_user_ids: ['U0123ABCD'],
      })
      // What a visitor notices: the widget greets on the shop, and answers nowhere else.
      expect(await session('https://shop.example')).toMatchObject({
        status: 200,
        body: { widget: { greeting: 'Hi from the shop!' } },
      })
      expect((await session('https://evil.example')).status).toBe(403)
    } finally {
      await db.query(`update app.channel_connections set settings = $2 where id = $1`, [
        DEMO.webChatId,
        JSON.stringify(saved),
      ])
    }
  })

  it('adds knowledge and previews a search', async () => {
    await open(admin, `/t/${DEMO.tenantSlug}/knowledge`)
    await admin.getByLabel('Title').fill('Delivery policy')
    await admin
      .getByRole('textbox', { name: 'Text' })
      .fill('We deliver Monday to Saturday. There is no delivery on Sundays or public holidays.')
    await admin.getByRole('button', { name: 'Add source' }).click()
    await admin.locator('tr', { hasText: 'Delivery policy' }).getByText('ready').waitFor()
    // The source can turn ready live before the form's own refresh has finished.
    await admin.getByRole('button', { name: 'Add source' }).waitFor()
    await admin.getByLabel('What would a customer ask?').fill('sunday delivery')
    await admin.getByRole('button', { name: 'Search', exact: true }).click()
    await admin.waitForURL((url) => url.searchParams.get('q') === 'sunday delivery')
    await admin.getByRole('list', { name: 'Best passages' }).getByText('no delivery on Sundays').waitFor()
  })

  const pages = [
    'conversations',
    `conversations/CONV`,
    'agents',
    `agents/${DEMO.agentId}`,
    'channels',
    'knowledge',
    'usage',
    'members',
    'billing',
    'settings',
    'audit',
  ]

  it('renders every main page at desktop and phone width, light and dark, without sideways scrolling', async () => {
    for (const [viewport, size] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const context = await e2e.newContext({ viewport: size, colorScheme: scheme })
        const page = await context.newPage()
        await signIn(page, DEMO.email, DEMO.password, `/t/${DEMO.tenantSlug}/usage`)
        for (const path of pages) {
          const res = await page.goto(`/t/${DEMO.tenantSlug}/${path.replace('CONV', conversationId)}`)
          expect(res?.status(), path).toBe(200)
          await waitLive(page)
          expect(await sidewaysOverflow(page), `${path} at ${viewport} ${scheme}`).toEqual([])
          await screenshot(page, `${path.replace(/\/.*/, '-detail')}-${viewport}-${scheme}`)
        }
        await context.close()
      }
    }
  }, 120_000)
})
