// Attachments in the inbox: a customer sends a photo and a PDF on WhatsApp (the real
// whatsapp-webhook function, signed like Meta); a member sees the photo inline, in a box
// that does not change size as it loads, with the PDF as a download link. A member of another tenant who has the photo's address gets 404.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signWhatsAppBody, startFakeWhatsApp, whatsAppTextWebhook, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { DEMO, open, signIn, startE2E, type E2E } from './support/harness.ts'

const APP_SECRET = 'whatsapp-app-secret-for-e2e'
// A 2×1 PNG: its own proportions differ from the 4:3 box it is shown in.
const PNG = Uint8Array.from(
  Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAD0lEQVR4nGP4z8DAwPAfAAcAAf9+CLHQAAAAAElFTkSuQmCC',
    'base64',
  ),
)

let e2e: E2E
let wa: FakeWhatsApp
let page: Page
let conversationId: string
let photoMessageId: string
const base = `/t/${DEMO.tenantSlug}`

async function sendOnWhatsApp(messages: Array<Record<string, unknown>>) {
  const payload = whatsAppTextWebhook({
    phoneNumberId: '100000000000001',
    from: '4915100000123',
    text: 'x',
    name: 'Mia',
  })
  const value = payload.entry[0]!.changes[0]!.value as Record<string, unknown>
  value['messages'] = messages
  const body = JSON.stringify(payload)
  const response = await fetch(`${e2e.stack.url}/functions/v1/whatsapp-webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(APP_SECRET, body) },
    body,
  })
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}`)
}

beforeAll(async () => {
  wa = await startFakeWhatsApp({ accessToken: 'EAAG-konstruct-placeholder' })
  e2e = await startE2E({
    functionEnv: { WHATSAPP_APP_SECRET: APP_SECRET, WHATSAPP_VERIFY_TOKEN: 'verify', WHATSAPP_API_URL: wa.url },
  })
  wa.addMedia({ id: 'e2e-photo', bytes: PNG, mimeType: 'image/png' })
  wa.addMedia({ id: 'e2e-pdf', bytes: new TextEncoder().encode('%PDF-1.4 e2e'), mimeType: 'application/pdf' })
  const now = String(Math.floor(Date.now() / 1000))
  await sendOnWhatsApp([
    {
      from: '4915100000123',
      id: 'wamid.e2e-pdf',
      timestamp: now,
      type: 'document',
      document: { id: 'e2e-pdf', mime_type: 'application/pdf', filename: 'order-4711.pdf' },
    },
    {
      from: '4915100000123',
      id: 'wamid.e2e-photo',
      timestamp: now,
      type: 'image',
      image: { id: 'e2e-photo', mime_type: 'image/png', caption: 'The broken hinge' },
    },
  ])
  const rows = await e2e.stack.db.pg.query<{ id: string; conversation_id: string }>(
    `select id, conversation_id from app.messages where external_id = 'wamid.e2e-photo'`,
  )
  photoMessageId = rows.rows[0]!.id
  conversationId = rows.rows[0]!.conversation_id
  page = await (await e2e.newContext()).newPage()
  await signIn(page, DEMO.email, DEMO.password, `${base}/conversations`)
}, 300_000)

afterAll(async () => {
  await e2e?.close()
  await wa?.close()
})

describe('attachments in the inbox', () => {
  it('shows a WhatsApp photo inline without moving anything, and a document as a download', async () => {
    await open(page, `${base}/conversations/${conversationId}`)
    const photo = page.getByRole('img', { name: 'The broken hinge' })
    await photo.waitFor()
    const before = await photo.boundingBox()
    await page.waitForFunction(
      () => (document.querySelector('img[alt="The broken hinge"]') as HTMLImageElement | null)?.naturalWidth === 2,
    )
    const after = await photo.boundingBox()
    expect(after).toEqual(before)
    expect(after!.width).toBe(240)
    expect(after!.height).toBe(180)

    const pdf = page.getByRole('link', { name: /order-4711\.pdf/ })
    expect(await pdf.getAttribute('download')).toBe('order-4711.pdf')
    const download = await page.request.get((await pdf.getAttribute('href'))!)
    expect(download.status()).toBe(200)
    expect(download.headers()['content-disposition']).toMatch(/^attachment/)
    expect(download.headers()['content-type']).toBe('application/octet-stream')
    expect(await download.text()).toBe('%PDF-1.4 e2e')
  })

  it('answers 404 to a member of another tenant who has the photo’s address', async () => {
    const other = await e2e.stack.newUser('other-tenant')
    const created = await other.client.rpc('create_tenant', { name: 'Other shop' })
    if (created.error) throw new Error(created.error.message)
    const stranger = await (await e2e.newContext()).newPage()
    await signIn(stranger, other.email, other.password)
    const before = wa.requests.length
    const response = await stranger.request.get(`/media/${photoMessageId}/0`)
    expect(response.status()).toBe(404)
    expect(await response.text()).toBe('This file does not exist or you cannot see it.')
    expect(wa.requests.length).toBe(before)
    // The member of the tenant gets the bytes at the same address.
    const mine = await page.request.get(`/media/${photoMessageId}/0`)
    expect(mine.status()).toBe(200)
    expect(mine.headers()['content-type']).toBe('image/png')
    expect(mine.headers()['x-content-type-options']).toBe('nosniff')
    expect(Buffer.from(await mine.body())).toEqual(Buffer.from(PNG))
  })
})
