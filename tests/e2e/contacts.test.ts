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
let whatsappContactId: string
const conversations: string[] = []
const WHATSAPP_ID = '30000000-0000-4000-8000-000000000003'
const ADA_AVATAR = 'https://avatars.slack-edge.com/2026-12-06/ada_72.png'
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
let adaConversation: string
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
  // The same person on WhatsApp, a contact of its own until an admin merges the two.
  const whatsapp = await ingest(service, {
    connectionId: WHATSAPP_ID,
    externalId: 'wamid.contacts-e2e',
    thread: '15550142',
    name: 'Grace H.',
    text: 'Hi from my phone',
  })
  whatsappContactId = whatsapp.contact_id
  conversations.push(whatsapp.conversation_id)
  const remembered = await service.rpc('save_memory', {
    tenant_id: DEMO.tenantId,
    contact_id: whatsappContactId,
    agent_id: DEMO.agentId,
    content: 'Writes from a phone on weekends',
  })
  if (remembered.error) throw new Error(remembered.error.message)
  // A contact whose profile picture Slack hosts (served here by the test: no internet).
  const ada = await ingest(service, {
    connectionId: DEMO.webChatId,
    externalId: 'contacts-e2e-ada',
    thread: 'ada-thread',
    user: 'ada-visitor',
    text: 'Hello',
  })
  adaConversation = ada.conversation_id
  const adaProfile = await service.rpc('record_contact_profile', {
    tenant_id: DEMO.tenantId,
    channel: 'web_chat',
    external_user_id: 'ada-visitor',
    display_name: 'Ada Lovelace',
    avatar_url: ADA_AVATAR,
  })
  if (adaProfile.error) throw new Error(adaProfile.error.message)
  page = await (await e2e.newContext()).newPage()
  await page.route(ADA_AVATAR, (route) =>
    route.fulfill({ contentType: 'image/png', body: Buffer.from(PNG_1PX, 'base64') }),
  )
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
    expect(await list.getByRole('listitem').count()).toBe(2)
    await list.getByRole('link', { name: /Grace Hopper/ }).click()
    await page.waitForURL(`**${base}/contacts/${contactId}`)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Grace Hopper')
    // The tracker's avatar is not loaded; initials stand in.
    expect(await page.locator('img').count()).toBe(0)
    expect(await page.locator('.contact-head .initials').textContent()).toBe('GH')

    const links = page.getByRole('region', { name: 'Conversations' }).getByRole('link')
    expect(await links.count()).toBe(2)
    const hrefs = await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')))
    expect(hrefs.sort()).toEqual(
      conversations
        .slice(0, 2)
        .map((id) => `${base}/conversations/${id}`)
        .sort(),
    )
    const memories = page.getByRole('region', { name: 'Memories' })
    await memories.getByText('Prefers email replies').waitFor()
    await memories.getByText('Lives in Arlington').waitFor()
  })

  it('shows the contact with their avatar in the conversation view, linked to the contact', async () => {
    await open(page, `${base}/conversations/${adaConversation}`)
    const adaPanel = page.getByRole('complementary', { name: 'Contact' })
    await adaPanel.getByRole('link', { name: 'Ada Lovelace' }).waitFor()
    const picture = adaPanel.locator('img')
    expect(await picture.getAttribute('src')).toBe(ADA_AVATAR)
    await page.waitForFunction(() => (document.querySelector('aside img') as HTMLImageElement | null)?.complete)
    expect(await picture.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1)

    // A picture from anywhere else is not loaded: initials.
    await open(page, `${base}/conversations/${conversations[0]}`)
    const panel = page.getByRole('complementary', { name: 'Contact' })
    expect(await panel.locator('img').count()).toBe(0)
    expect(await panel.locator('.initials').textContent()).toContain('GH')
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

  it('merges the same person seen on WhatsApp into the widget visitor, after a confirmation naming what moves', async () => {
    await open(page, `${base}/contacts/${contactId}`)
    const merge = page.getByRole('region', { name: 'Merge with…' })
    await merge.getByLabel("Other contact's name or email").fill('grace')
    await merge.getByRole('button', { name: 'Find' }).click()
    await page.waitForURL((url) => url.searchParams.get('merge_q') === 'grace')
    const matches = page.getByRole('list', { name: 'Contacts to merge' })
    // The contact itself is not offered.
    expect(await matches.getByRole('listitem').count()).toBe(1)
    await matches.getByRole('link', { name: 'Grace H.' }).click()
    await page.waitForURL((url) => url.searchParams.get('merge_with') === whatsappContactId)
    const summary = (await page.locator('#merge-summary').textContent())?.replace(/\s+/g, ' ')
    expect(summary).toContain('Merge Grace H. into Grace Hopper?')
    expect(summary).toContain('WhatsApp 15550142, 1 conversation and 1 memory here')
    await page.getByRole('button', { name: 'Merge into Grace Hopper' }).click()
    await page.getByRole('status').getByText('Merged.').waitFor()

    // One person now: both channels, all three conversations, both memories, under the survivor's name.
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Grace Hopper')
    const channels = page.getByRole('region', { name: 'Channels' })
    await channels.getByText('15550142').waitFor()
    expect(await page.getByRole('region', { name: 'Conversations' }).getByRole('link').count()).toBe(3)
    await page.getByRole('region', { name: 'Memories' }).getByText('Writes from a phone on weekends').waitFor()

    // The duplicate leaves the list, and its old address leads to the survivor.
    await open(page, `${base}/contacts?q=grace`)
    const list = page.getByRole('list', { name: 'Contacts' })
    expect(await list.getByRole('listitem').count()).toBe(1)
    await open(page, `${base}/contacts/${whatsappContactId}`)
    expect(new URL(page.url()).pathname).toBe(`${base}/contacts/${contactId}`)

    // The next WhatsApp message from that number is the survivor's.
    const next = await ingest(e2e.stack.serviceClient(), {
      connectionId: WHATSAPP_ID,
      externalId: 'wamid.contacts-e2e-2',
      thread: '15550142',
      text: 'Me again',
    })
    expect(next.contact_id).toBe(contactId)

    await open(page, `${base}/audit?action=contact.`)
    expect(await page.getByRole('row').filter({ hasText: 'contact.merged' }).count()).toBe(1)
  })
})
