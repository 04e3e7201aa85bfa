// Issue 15's two silent defects, as an admin meets them in the browser:
// 1. a channel added without touching "Answered by" is answered by the first active agent,
//    and a channel nobody answers says so (on its card and on its conversations);
// 2. model settings are tested when saved (a wrong key is refused with a clear sentence
//    and nothing is saved), and a model that keeps failing raises one alert: a banner that
//    arrives live on the page the admin has open, an audit entry, and the failure shown on
//    the conversation; the banner leaves live when the model answers again.
// And (issue 14) a WhatsApp channel's card says whether its token proved control of the number.
import type { Page, WebSocket } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { startFakeWhatsApp, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { testWorkerEnv } from '../support/worker-env.ts'
import { DEMO, open, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'

let e2e: E2E
let admin: Page
let openai: FakeOpenAI
// The Graph API the worker asks for the numbers a token controls (proof of control).
let whatsapp: FakeWhatsApp
const base = `/t/${DEMO.tenantSlug}`

beforeAll(async () => {
  openai = await startFakeOpenAI()
  whatsapp = await startFakeWhatsApp()
  whatsapp.addBusinessAccount({
    id: '200000000000777',
    tokens: ['EAAG-owner-of-777'],
    phoneNumbers: [{ id: '100000000000777', displayPhoneNumber: '+1 555 010 0777' }],
  })
  e2e = await startE2E({
    functionEnv: { ...testWorkerEnv, MODEL_ALLOW_LOCAL_ENDPOINTS: 'true', WHATSAPP_API_URL: whatsapp.url },
  })
  // Retries are picked up every second instead of waiting for the next message.
  await e2e.stack.db.asOwner(async (tx) => {
    await tx.query(`select app.schedule_worker_safety_net('1 seconds')`)
  })
  const context = await e2e.newContext()
  admin = await context.newPage()
  await signIn(admin, DEMO.email, DEMO.password, `${base}/channels`)
}, 180_000)

afterAll(async () => {
  await e2e?.close()
  await openai?.close()
  await whatsapp?.close()
})

const newWebChat = () => admin.locator('form', { has: admin.getByRole('heading', { name: 'New web chat' }) })

describe('a new channel', () => {
  it('is answered by the first active agent unless the admin picks otherwise', async () => {
    await open(admin, `${base}/channels`)
    await admin.getByRole('button', { name: 'Add web chat' }).click()
    const answeredBy = newWebChat().getByLabel('Answered by')
    expect(await answeredBy.locator('option:checked').textContent()).toBe('Ava')
    await admin.getByLabel('Name', { exact: true }).fill('Left as it was')
    await admin.getByRole('button', { name: 'Create web chat' }).click()
    const card = admin.locator('section.card', { has: admin.getByRole('heading', { name: /Left as it was/ }) })
    await card.waitFor()
    expect(await card.getByLabel('Answered by').locator('option:checked').textContent()).toBe('Ava')
    expect(await card.getByTestId('unanswered').count()).toBe(0)
  })

  it('says so on its card and its conversations when no agent answers it', async () => {
    await admin.getByRole('button', { name: 'Add web chat' }).click()
    await admin.getByLabel('Name', { exact: true }).fill('People only')
    await newWebChat().getByLabel('Answered by').selectOption({ label: 'No agent (humans only)' })
    await admin.getByRole('button', { name: 'Create web chat' }).click()
    const card = admin.locator('section.card', { has: admin.getByRole('heading', { name: /People only/ }) })
    await card.waitFor()
    expect(await card.getByTestId('unanswered').textContent()).toBe(
      'No agent answers this channel: messages wait for a person.',
    )

    const channelId = await card.getAttribute('data-channel-id')
    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: channelId!,
      externalId: 'people-only-1',
      thread: 'visitor-people-only',
      text: 'Is anyone there?',
    })
    await open(admin, `${base}/conversations/${sent.conversation_id}`)
    await admin.getByTestId('unanswered').getByText("No agent answers this conversation's channel").waitFor()
    // And its row in the list.
    await admin
      .locator(`ul.conversation-list > li[data-conversation-id="${sent.conversation_id}"]`)
      .getByText('no agent answers this channel')
      .waitFor()
    await screenshot(admin, 'inbox-unanswered-channel')
  })
})

describe('a WhatsApp channel', () => {
  it('shows whether its token proved control of the number, live as the check ends', async () => {
    // Joins of the tenant's live channel: the page joins once, and a form's action does not
    // make it leave and join again (every join reloads the page's lists).
    let joins = 0
    const countJoins = (ws: WebSocket) =>
      ws.on('framesent', ({ payload }) => {
        if (typeof payload === 'string' && payload.includes('phx_join') && payload.includes('realtime:tenant:')) joins++
      })
    admin.on('websocket', countJoins)
    await open(admin, `${base}/channels`)
    await waitLive(admin)
    expect(joins).toBe(1)
    const card = (name: string) => admin.locator('section.card', { has: admin.getByRole('heading', { name }) })
    // The seeded number was proved.
    expect(await card('Konstruct WhatsApp').getByTestId('whatsapp-verification').textContent()).toBe('Number verified')

    // A number whose token cannot see its business account: not verified, and why.
    await admin.getByRole('button', { name: 'Connect WhatsApp' }).click()
    await admin.getByLabel('Name', { exact: true }).fill('Claimed line')
    await admin.getByLabel('Phone number ID').fill('100000000000777')
    await admin.getByLabel('WhatsApp Business Account ID').fill('200000000000777')
    await admin.getByLabel('Access token').fill('EAAG-not-this-account')
    await admin.getByRole('button', { name: 'Connect', exact: true }).click()
    const claimed = card('Claimed line')
    await claimed.getByTestId('whatsapp-verification').getByText('Number not verified').waitFor()
    expect(await claimed.getByTestId('whatsapp-verification-detail').textContent()).toContain(
      'The access token cannot see that WhatsApp Business Account',
    )

    // Reconnected with the account's own token: verified, without reloading the page.
    await claimed.getByLabel('Reconnect with a new token').fill('EAAG-owner-of-777')
    await claimed.getByRole('button', { name: 'Save' }).click()
    await claimed.getByTestId('whatsapp-verification').getByText('Number verified').waitFor()
    expect(await claimed.getByTestId('whatsapp-verification-detail').count()).toBe(0)
    expect(joins).toBe(1)
    admin.off('websocket', countJoins)
    await screenshot(admin, 'channels-whatsapp-verification')
  })
})

describe('model settings', () => {
  it('refuses a key the endpoint refuses, saying why, and saves nothing', async () => {
    await open(admin, `${base}/settings`)
    await admin.getByLabel('Base URL').fill(openai.url)
    await admin.getByLabel('Model', { exact: true }).fill('gpt-e2e')
    await admin.getByLabel('API key (optional)').fill('sk-mistyped')
    openai.failNext(1, { status: 401 })
    await admin.getByRole('button', { name: 'Test and save model settings' }).click()
    await admin.getByRole('alert').getByText('The endpoint refused the API key (HTTP 401). Check the key.').waitFor()
    expect(openai.requests.at(-1)?.headers['authorization']).toBe('Bearer sk-mistyped')
    await admin.reload()
    expect(await admin.getByLabel('Base URL').inputValue()).toBe('')
    expect(await admin.getByTestId('llm-key-state').textContent()).toContain('No key')
    const { data: key } = await e2e.stack.serviceClient().rpc('get_llm_key', { tenant_id: DEMO.tenantId })
    expect(key).toBeNull()
  })

  it('saves a working endpoint and key and says the model answered', async () => {
    await admin.getByLabel('Base URL').fill(openai.url)
    await admin.getByLabel('Model', { exact: true }).fill('gpt-e2e')
    await admin.getByLabel('API key (optional)').fill('sk-right')
    await admin.getByRole('button', { name: 'Test and save model settings' }).click()
    await admin.getByText('Saved. The model “gpt-e2e” answered.').waitFor()
    await admin.getByTestId('llm-key-state').getByText('Key set').waitFor()
  })

  it("tests an agent's own model in the designer before saving it", async () => {
    await open(admin, `${base}/agents/${DEMO.agentId}`)
    await admin.getByRole('button', { name: /Model & budget/ }).click()
    const model = admin.getByLabel('Model', { exact: true })
    await model.fill('gpt-nonexistent')
    openai.failNext(1, { status: 404 })
    await admin.getByRole('button', { name: 'Save changes' }).click()
    await expect
      .poll(() => admin.locator('#a-model-error').textContent())
      .toContain('The endpoint answered 404: check the base URL')
    // Sent to the workspace's endpoint (no endpoint of its own) with the workspace's key.
    const refused = openai.requests.at(-1)!
    expect(refused.body.model).toBe('gpt-nonexistent')
    expect(refused.headers['authorization']).toBe('Bearer sk-right')
    const stored = async () =>
      (
        await e2e.stack.db.pg.query<{ m: any }>(`select model_settings as m from app.agents where id = $1`, [
          DEMO.agentId,
        ])
      ).rows[0]!.m
    expect((await stored()).model).not.toBe('gpt-nonexistent')

    await model.fill('gpt-e2e-agent')
    await admin.getByRole('button', { name: 'Save changes' }).click()
    await admin.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
    expect(openai.requests.at(-1)!.body.model).toBe('gpt-e2e-agent')
    expect((await stored()).model).toBe('gpt-e2e-agent')
  })
})

describe('a model that keeps failing', () => {
  it('alerts the admins once, live, and shows on the conversation; the alert leaves when it answers again', async () => {
    await open(admin, `${base}/conversations`)
    await waitLive(admin)
    expect(await admin.getByTestId('model-failing').count()).toBe(0)
    openai.respondWith(() => ({ status: 500 }))
    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'model-down-1',
      thread: 'visitor-model-down',
      name: 'Mia',
      text: 'Where is my order?',
    })
    // The third failed attempt raises the banner on the page that is already open.
    const banner = admin.getByTestId('model-failing')
    await banner.waitFor({ timeout: 60_000 })
    expect(await banner.textContent()).toContain("Your agents' model is failing")
    expect(await banner.textContent()).toContain('HTTP 500')
    await screenshot(admin, 'inbox-model-failing')

    await banner.getByRole('link', { name: 'See the conversation' }).click()
    await admin.waitForURL(`**/conversations/${sent.conversation_id}`)
    await admin
      .getByTestId('model-failure')
      .getByText(/the model failed 3 times in a row/)
      .waitFor()

    await open(admin, `${base}/audit?action=alert.model`)
    expect(await admin.locator('td code', { hasText: 'alert.model_failing' }).count()).toBe(1)

    // The model answers again: the next reply succeeds and the banner goes away live.
    await expect.poll(() => admin.getByTestId('model-failing').count()).toBe(1)
    openai.respondWith(null)
    await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'model-down-2',
      thread: 'visitor-model-down',
      text: 'Hello again?',
    })
    await admin.getByTestId('model-failing').waitFor({ state: 'detached', timeout: 60_000 })
    await admin.getByTestId('model-failure').waitFor({ state: 'detached' })
    await open(admin, `${base}/audit?action=alert.model`)
    expect(await admin.locator('td code', { hasText: 'alert.model_recovered' }).count()).toBe(1)
    expect(await admin.locator('td code', { hasText: 'alert.model_failing' }).count()).toBe(1)
  })
})
