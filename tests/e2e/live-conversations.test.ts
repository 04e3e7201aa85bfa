// Conversations, live: new conversations and messages appear without a reload, in order
// and never twice; take over, reply, release; the waiting-for-human alert; another
// tenant never sees any of it.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DEMO,
  PHONE,
  overflowsHorizontally,
  screenshot,
  signIn,
  startE2E,
  waitLive,
  type E2E,
} from './support/harness.ts'
import { ingest, ingestAll } from './support/ingest.ts'

let e2e: E2E
let list: Page
let view: Page
let conversationId: string

const rowsOf = (page: Page) => page.locator('ul.conversation-list > li[data-conversation-id]')

async function rowIds(page: Page): Promise<string[]> {
  return rowsOf(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-conversation-id') ?? ''))
}

beforeAll(async () => {
  e2e = await startE2E()
  // These tests count exactly what arrives; Ava's (offline) answers are proven in onboarding.
  const ava = e2e.stack.anonClient()
  await ava.auth.signInWithPassword({ email: DEMO.email, password: DEMO.password })
  const { error } = await ava.rpc('pause_agent', { agent_id: DEMO.agentId })
  if (error) throw new Error(error.message)
  const context = await e2e.newContext()
  list = await context.newPage()
  await signIn(list, DEMO.email, DEMO.password)
  await list.waitForURL(`**/t/${DEMO.tenantSlug}/conversations`)
  view = await context.newPage()
}, 180_000)

afterAll(async () => {
  console.log('[e2e live-conversations] setup ms', JSON.stringify(e2e?.timings))
  await e2e?.close()
})

describe('live conversations', () => {
  it('shows a new conversation in the open list without a reload', async () => {
    await waitLive(list)
    await list.getByText('No conversations yet').waitFor()
    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'wc-1',
      thread: 'visitor-grace',
      name: 'Grace Hopper',
      text: 'Hello, is my order on its way?',
    })
    conversationId = sent.conversation_id
    const row = list.locator(`li[data-conversation-id="${conversationId}"]`)
    await row.getByText('Hello, is my order on its way?').waitFor()
    expect(await row.locator('.contact').textContent()).toBe('Grace Hopper')
    await screenshot(list, 'conversations-desktop')
  })

  it('streams a new message into the open conversation and the list at once', async () => {
    await view.goto(`/t/${DEMO.tenantSlug}/conversations/${conversationId}`)
    await waitLive(view)
    await view.locator('li[data-author="contact"]').first().waitFor()
    await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'wc-2',
      thread: 'visitor-grace',
      text: 'It was due yesterday.',
    })
    await view.locator('.message-log').getByText('It was due yesterday.').waitFor()
    await list.locator(`li[data-conversation-id="${conversationId}"]`).getByText('It was due yesterday.').waitFor()
    expect(await view.locator('li[data-message-id]').count()).toBe(2)
    expect(await rowsOf(list).count()).toBe(1)
  })

  it('raises an unmistakable alert on every page when the conversation waits for a human', async () => {
    const { error } = await e2e.stack.serviceClient().rpc('escalate_conversation', {
      tenant_id: DEMO.tenantId,
      conversation_id: conversationId,
      reason: 'the customer asked for a human',
    })
    expect(error).toBeNull()
    for (const page of [list, view]) {
      const alert = page.getByRole('alert').filter({ hasText: 'waiting for a human' })
      await alert.waitFor()
      expect(await alert.textContent()).toContain('Grace Hopper — the customer asked for a human')
      await page.locator('nav .badge.alert').filter({ hasText: '1' }).waitFor()
    }
    await list.locator(`li[data-conversation-id="${conversationId}"] .badge.alert`).waitFor()
    await view.getByTestId('conversation-status').filter({ hasText: 'Waiting for a human' }).waitFor()
    await screenshot(view, 'conversation-waiting-desktop')
  })

  it('lets an admin take over, reply as a human and release to the agent', async () => {
    await view.getByRole('button', { name: 'Take over' }).click()
    await view.getByTestId('conversation-status').filter({ hasText: 'Human handling' }).waitFor()
    // The alert clears everywhere once a human has it.
    await list.getByRole('alert').filter({ hasText: 'waiting for a human' }).waitFor({ state: 'detached' })

    await view.getByLabel(/Reply as/).fill('Hi Grace, this is Ada from the shop. Let me check.')
    // What was typed is still there when it is sent, and the portal takes it.
    await view.getByRole('button', { name: 'Send reply' }).waitFor()
    expect(await view.getByLabel(/Reply as/).inputValue()).toBe('Hi Grace, this is Ada from the shop. Let me check.')
    const sent = view.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/reply'))
    await view.getByRole('button', { name: 'Send reply' }).click()
    const response = await sent
    expect(response.status(), await response.text()).toBe(200)
    const reply = view.locator('li[data-author="member"]').filter({ hasText: 'Let me check.' })
    await reply.waitFor()
    expect(await view.locator('li[data-author="member"]').count()).toBe(1)
    expect(await view.getByLabel(/Reply as/).inputValue()).toBe('')
    await list.locator(`li[data-conversation-id="${conversationId}"]`).getByText('Let me check.').waitFor()

    await view.getByRole('button', { name: 'Release to agent' }).click()
    await view.getByTestId('conversation-status').filter({ hasText: 'Agent answering' }).waitFor()
    await list.locator(`li[data-conversation-id="${conversationId}"]`).getByText('Agent answering').waitFor()
  })

  it('keeps the list and the open conversation exact through a burst of 200 messages', async () => {
    const service = e2e.stack.serviceClient()
    // 200 messages into the open conversation …
    await ingestAll(
      service,
      Array.from({ length: 200 }, (_, i) => ({
        connectionId: DEMO.webChatId,
        externalId: `burst-one-${i}`,
        thread: 'visitor-grace',
        text: `burst message ${i}`,
      })),
    )
    await view.locator('.message-log').getByText('burst message 199', { exact: true }).waitFor({ timeout: 30_000 })
    await expect.poll(() => view.locator('li[data-message-id]').count(), { timeout: 15_000 }).toBe(203)
    // … arrive once each, in the order the database gave them (seq), as a reload shows.
    const texts = await view.locator('li[data-author="contact"] .text').allTextContents()
    expect([...texts.slice(2)].sort()).toEqual(Array.from({ length: 200 }, (_, i) => `burst message ${i}`).sort())
    const seqs = await view
      .locator('li[data-message-id]')
      .evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-seq'))))
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    const liveIds = await view
      .locator('li[data-message-id]')
      .evaluateAll((els) => els.map((el) => el.getAttribute('data-message-id')))
    await view.reload()
    await waitLive(view)
    // A reload shows the newest 200 (once the page has drawn them); the earlier ones are a click away.
    await expect
      .poll(() =>
        view.locator('li[data-message-id]').evaluateAll((els) => els.map((el) => el.getAttribute('data-message-id'))),
      )
      .toEqual(liveIds.slice(-200))
    await view.getByRole('button', { name: 'Show earlier messages' }).click()
    await expect.poll(() => view.locator('li[data-message-id]').count()).toBe(203)
    expect(
      await view
        .locator('li[data-message-id]')
        .evaluateAll((els) => els.map((el) => el.getAttribute('data-message-id'))),
    ).toEqual(liveIds)

    // 200 messages spread over 40 new conversations.
    await ingestAll(
      service,
      Array.from({ length: 200 }, (_, i) => ({
        connectionId: DEMO.webChatId,
        externalId: `burst-many-${i}`,
        thread: `burst-visitor-${i % 40}`,
        name: `Burst visitor ${i % 40}`,
        text: `many ${i}`,
      })),
    )
    await expect.poll(() => rowsOf(list).count(), { timeout: 30_000 }).toBe(41)
    const ids = await rowIds(list)
    expect(new Set(ids).size).toBe(ids.length)
    // The newest activity is on top; Grace's conversation is now the oldest.
    expect(ids.at(-1)).toBe(conversationId)
    // Every burst conversation shows its last message.
    await expect
      .poll(() => list.locator('ul.conversation-list .preview').allTextContents(), { timeout: 15_000 })
      .toEqual(expect.arrayContaining(Array.from({ length: 40 }, (_, v) => `many ${160 + v}`)))
    // A reload shows the same list as the live one.
    const live = await rowIds(list)
    await list.reload()
    expect(await rowIds(list)).toEqual(live)
  }, 90_000)

  it('shows another tenant none of it', async () => {
    const other = await e2e.stack.newUser('other')
    const { data: tenant, error } = await other.client.rpc('create_tenant', { name: 'Other Co' })
    expect(error).toBeNull()
    const { data: channel } = await other.client.rpc('create_web_chat_channel', {
      tenant_id: tenant.id,
      name: 'Other chat',
    })

    const context = await e2e.newContext()
    const page = await context.newPage()
    await signIn(page, other.email, other.password)
    await page.waitForURL(`**/t/${tenant.slug}/conversations`)
    await waitLive(page)

    // Live: a message to the demo tenant and one to their own; only their own shows.
    await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'wc-secret',
      thread: 'visitor-grace',
      text: 'demo secret',
    })
    await ingest(e2e.stack.serviceClient(), {
      connectionId: channel.id,
      externalId: 'other-1',
      thread: 'other-visitor',
      name: 'Own customer',
      text: 'own message',
    })
    await page.getByText('own message').waitFor()
    expect(await rowsOf(page).count()).toBe(1)
    expect(await page.getByText('Grace Hopper').count()).toBe(0)
    expect(await page.getByText('demo secret').count()).toBe(0)

    // Direct links into the demo tenant are refused.
    const res = await page.goto(`/t/${DEMO.tenantSlug}/conversations`)
    expect(res?.status()).toBe(404)
    const res2 = await page.goto(`/t/${tenant.slug}/conversations/${conversationId}`)
    expect(res2?.status()).toBe(404)
    expect(await page.getByText('Grace Hopper').count()).toBe(0)
    await context.close()
  })

  it('fits a phone screen', async () => {
    const context = await e2e.newContext({ viewport: PHONE, colorScheme: 'dark' })
    const page = await context.newPage()
    await signIn(page, DEMO.email, DEMO.password, `/t/${DEMO.tenantSlug}/conversations/${conversationId}`)
    await page.locator('li[data-message-id]').first().waitFor()
    expect(await overflowsHorizontally(page)).toBe(false)
    await screenshot(page, 'conversation-phone-dark')
    await page.goto(`/t/${DEMO.tenantSlug}/conversations`)
    expect(await overflowsHorizontally(page)).toBe(false)
    await screenshot(page, 'conversations-phone-dark')
    await context.close()
  })
})
