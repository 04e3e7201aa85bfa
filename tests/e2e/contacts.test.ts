// Contacts as an admin sees them: a person's name (from a channel profile) in the list and
// in the conversation's contact panel, their past conversations linked, what the agents
// remember about them, and a memory deleted (two clicks, audited). An avatar from outside
// Slack's image hosts is never loaded: initials instead.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, signIn, startE2E, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'

let e2e: E2E
let page: Page
let contactId: string
const conversations: string[] = []
const base = `/t/${DEMO.tenantSlug}`

beforeAll(async () => {
  e2e = await startE2E()
  const service = e2e.stack.serviceClient()
  // One visitor, two threads, no name on the messages: the name comes from the profile.
  for (const [i, text] of ['My parcel never arrived', 'Can I change my address?'].entries()) {
    const sent = await ingest(service, {
      connectionId: DEMO.webChatId,
      externalId: `contacts-e2e-${i}`,
      thread: `grace-thread-${i}`,
      user: 'grace-visitor',
      text,
    })
    contactId = sent.contact_id
    conversations.push(sent.conversation_id)
  }
  const profile = await service.rpc('record_contact_profile', {
    tenant_id: DEMO.tenantId,
    channel: 'web_chat',
    external_user_id: 'grace-visitor',
    display_name: 'Grace Hopper',
    avatar_url: 'https://tracker.example/pixel.png',
  })
  if (profile.error) throw new Error(profile.error.message)
  for (const content of ['Prefers email replies', 'Lives in Arlington']) {
    const saved = await service.rpc('save_memory', {
      tenant_id: DEMO.tenantId,
      contact_id: contactId,
      agent_id: DEMO.agentId,
      content,
    })
    if (saved.error) throw new Error(saved.error.message)
  }
  page = await (await e2e.newContext()).newPage()
  await signIn(page, DEMO.email, DEMO.password, `${base}/contacts`)
}, 300_000)

afterAll(async () => {
  await e2e?.close()
})

describe('contacts', () => {
  it('finds a contact by name and shows its conversations and memories', async () => {
    await open(page, `${base}/contacts`)
    await page.getByLabel('Name or email').fill('grace')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.waitForURL((url) => url.searchParams.get('q') === 'grace')
    const list = page.getByRole('list', { name: 'Contacts' })
    expect(await list.getByRole('listitem').count()).toBe(1)
    await list.getByRole('link', { name: /Grace Hopper/ }).click()
    await page.waitForURL(`**${base}/contacts/${contactId}`)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Grace Hopper')
    // The tracker's avatar is not loaded; initials stand in.
    expect(await page.locator('img').count()).toBe(0)
    expect(await page.locator('.contact-head .initials').textContent()).toBe('GH')

    const links = page.getByRole('region', { name: 'Conversations' }).getByRole('link')
    expect(await links.count()).toBe(2)
    const hrefs = await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')))
    expect(hrefs.sort()).toEqual(conversations.map((id) => `${base}/conversations/${id}`).sort())
    const memories = page.getByRole('region', { name: 'Memories' })
    await memories.getByText('Prefers email replies').waitFor()
    await memories.getByText('Lives in Arlington').waitFor()
  })

  it('links the conversation view to the contact', async () => {
    await open(page, `${base}/conversations/${conversations[0]}`)
    const panel = page.getByRole('complementary', { name: 'Contact' })
    await panel.getByRole('link', { name: 'Grace Hopper' }).click()
    await page.waitForURL(`**${base}/contacts/${contactId}`)
  })

  it('deletes a memory after a confirmation, and the audit log says what was forgotten', async () => {
    await open(page, `${base}/contacts/${contactId}`)
    const memories = page.getByRole('region', { name: 'Memories' })
    await memories.getByRole('button', { name: 'Delete the memory: Prefers email replies' }).click()
    await memories.getByRole('button', { name: 'Delete memory' }).click()
    await memories.getByRole('status').getByText('Memory deleted.').waitFor()
    expect(await memories.getByText('Prefers email replies').count()).toBe(0)
    expect(await memories.getByText('Lives in Arlington').count()).toBe(1)
    // Still gone after a reload: the database forgot it.
    await open(page, `${base}/contacts/${contactId}`)
    expect(await page.getByText('Prefers email replies').count()).toBe(0)
    await open(page, `${base}/audit?action=memory.`)
    const row = page.getByRole('row').filter({ hasText: 'memory.deleted' })
    expect(await row.count()).toBe(1)
    expect(await row.textContent()).toContain('Prefers email replies')
  })
})
