// The inbox two admins work in side by side (two browser contexts): hand-offs assigned
// round robin, views, unread marks per person, full-text search over every message,
// internal notes the customer never gets, canned replies with /shortcut, keyboard
// shortcuts listed on "?", and assignment that shows up live in the other's "Mine".
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'

let e2e: E2E
let ada: Page // the demo owner
let bea: Page // an admin invited for this test
let beaId: string
const base = `/t/${DEMO.tenantSlug}`
const conv: Record<string, string> = {}

const rowOf = (page: Page, id: string) => page.locator(`ul.conversation-list > li[data-conversation-id="${id}"]`)

beforeAll(async () => {
  e2e = await startE2E()
  const owner = e2e.stack.anonClient()
  await owner.auth.signInWithPassword({ email: DEMO.email, password: DEMO.password })
  const b = await e2e.stack.newUser('bea')
  beaId = b.userId
  const { data: invitation, error } = await owner.rpc('create_invitation', {
    tenant_id: DEMO.tenantId,
    email: b.email,
    role: 'admin',
  })
  if (error) throw new Error(error.message)
  const accepted = await b.client.rpc('accept_invitation', { token: (invitation as { token: string }).token })
  if (accepted.error) throw new Error(accepted.error.message)

  const service = e2e.stack.serviceClient()
  const say = async (key: string, thread: string, name: string, texts: string[]) => {
    for (const [i, text] of texts.entries()) {
      const sent = await ingest(service, {
        connectionId: DEMO.webChatId,
        externalId: `${thread}-${i}`,
        thread,
        name,
        text,
      })
      conv[key] = sent.conversation_id
    }
  }
  await say('parcel', 'visitor-parcel', 'Pia', ['My parcel never arrived', 'Order 5521, if that helps', 'Hello?'])
  await say('invoice', 'visitor-invoice', 'Ian', ['I need a copy of my invoice'])
  await say('hours', 'visitor-hours', 'Hal', ['When do you open?'])

  ada = await (await e2e.newContext()).newPage()
  bea = await (await e2e.newContext()).newPage()
  await signIn(ada, DEMO.email, DEMO.password, `${base}/conversations`)
  await signIn(bea, b.email, b.password, `${base}/conversations`)
}, 300_000)

afterAll(async () => {
  await e2e?.close()
})

describe('the inbox', () => {
  it('assigns hand-offs round robin, and each admin finds theirs under Mine', async () => {
    const service = e2e.stack.serviceClient()
    for (const key of ['parcel', 'invoice']) {
      const { error } = await service.rpc('escalate_conversation', {
        tenant_id: DEMO.tenantId,
        conversation_id: conv[key],
        reason: 'asked for a human',
      })
      if (error) throw new Error(error.message)
    }
    await open(ada, `${base}/conversations?view=mine`)
    await open(bea, `${base}/conversations?view=mine`)
    // Ada was never assigned and joined first; Bea gets the next one.
    await rowOf(ada, conv.parcel!).waitFor()
    await rowOf(bea, conv.invoice!).waitFor()
    expect(await ada.locator('ul.conversation-list > li').count()).toBe(1)
    expect(await bea.locator('ul.conversation-list > li').count()).toBe(1)
    await ada.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Waiting for a human' }).click()
    await rowOf(ada, conv.invoice!).waitFor()
    expect(await ada.locator('ul.conversation-list > li').count()).toBe(2)
    await ada.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Unassigned' }).click()
    await rowOf(ada, conv.hours!).waitFor()
    expect(await rowOf(ada, conv.parcel!).count()).toBe(0)
  })

  it('keeps unread marks per person', async () => {
    await open(ada, `${base}/conversations`)
    await open(bea, `${base}/conversations`)
    await waitLive(bea)
    expect(await rowOf(ada, conv.hours!).getAttribute('class')).toContain('unread')
    await rowOf(bea, conv.hours!).locator('a').click()
    await bea.waitForURL(`**/conversations/${conv.hours}`)
    await bea.locator('.message-log').getByText('When do you open?').waitFor()
    await expect.poll(async () => (await rowOf(bea, conv.hours!).getAttribute('class')) ?? '').not.toContain('unread')
    await ada.reload()
    expect(await rowOf(ada, conv.hours!).getAttribute('class')).toContain('unread')
    // Ada reads it too, and goes back to the list.
    await rowOf(ada, conv.hours!).locator('a').click()
    await ada.waitForURL(`**/conversations/${conv.hours}`)
    await expect.poll(async () => (await rowOf(ada, conv.hours!).getAttribute('class')) ?? '').not.toContain('unread')
    await open(ada, `${base}/conversations`)
    await waitLive(ada)
    expect((await rowOf(ada, conv.hours!).getAttribute('class')) ?? '').not.toContain('unread')
    const before = await rowOf(ada, conv.hours!).innerText()
    // A new message from the customer is unread again for Ada, live. The agent answers it at
    // once, so the row's preview may already show the answer: what stays is the unread mark
    // and a preview that is no longer the one before.
    await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'visitor-hours-again',
      thread: 'visitor-hours',
      text: 'And on Sundays?',
    })
    await expect.poll(async () => (await rowOf(ada, conv.hours!).getAttribute('class')) ?? '').toContain('unread')
    await expect.poll(() => rowOf(ada, conv.hours!).innerText()).not.toBe(before)
  })

  it('searches every message, not only the last one, with filters', async () => {
    await open(ada, `${base}/conversations`)
    await ada.getByLabel('Search').fill('parcel')
    await ada.getByRole('button', { name: 'Search' }).click()
    await ada.waitForURL(/q=parcel/)
    await expect.poll(() => ada.locator('ul.conversation-list > li').count()).toBe(1)
    await rowOf(ada, conv.parcel!).waitFor()
    // A search opens the filters; a filter that excludes it leaves nothing.
    await ada.getByLabel('Status').selectOption({ label: 'Closed' })
    await ada.getByText('No conversation matches these filters.').waitFor()
  })

  it('shares internal notes live with the team and never with the customer', async () => {
    await open(ada, `${base}/conversations/${conv.parcel}`)
    await open(bea, `${base}/conversations/${conv.parcel}`)
    await waitLive(bea)
    await ada.getByRole('tab', { name: 'Internal note' }).click()
    await ada.getByLabel('Internal note (only your team sees it)').fill('VIP customer, refund without asking for proof')
    await ada.getByRole('button', { name: 'Add note' }).click()
    await ada.locator('li.note').getByText('VIP customer').waitFor()
    await bea.locator('li.note').getByText('VIP customer, refund without asking for proof').waitFor()
    // The customer's side: the widget's history and every outbound message.
    const service = e2e.stack.serviceClient()
    const { data: history } = await service.rpc('web_chat_history', {
      connection_id: DEMO.webChatId,
      visitor_id: 'visitor-parcel',
    })
    expect(JSON.stringify(history)).not.toContain('VIP customer')
    const { data: messages } = await service.rpc('list_messages', { conversation_id: conv.parcel, page_size: 200 })
    expect(JSON.stringify(messages)).not.toContain('VIP customer')
    expect(await ada.locator('li[data-message-id]').filter({ hasText: 'VIP customer' }).count()).toBe(0)
    await screenshot(ada, 'inbox-note')
  })

  it('inserts a canned reply with /shortcut and sends it', async () => {
    await open(ada, `${base}/settings`)
    await ada.getByLabel('Shortcut').fill('/refund')
    await ada.getByLabel('Reply', { exact: true }).fill('Your refund is on its way: it takes 5 business days.')
    await ada.getByRole('button', { name: 'Save canned reply' }).click()
    await ada.locator('li[data-shortcut="refund"]').waitFor()

    await open(ada, `${base}/conversations/${conv.parcel}`)
    const box = ada.getByLabel(/Reply as/)
    await box.click()
    await box.pressSequentially('Hi Pia! /ref')
    await ada.getByRole('listbox', { name: 'Canned replies' }).getByText('/refund').waitFor()
    await box.press('Enter')
    expect(await box.inputValue()).toBe('Hi Pia! Your refund is on its way: it takes 5 business days.')
    await ada.getByRole('button', { name: 'Send reply' }).click()
    await ada.locator('li[data-author="member"]').filter({ hasText: 'Your refund is on its way' }).waitFor()
  })

  it('lists keyboard shortcuts on ?, focuses the reply, note and search with r, n and /, moves with j and k, assigns with a and closes with c', async () => {
    await open(ada, `${base}/conversations/${conv.hours}`)
    await ada.locator('body').press('?')
    const dialog = ada.getByRole('dialog', { name: 'Keyboard shortcuts' })
    await dialog.waitFor()
    for (const action of [
      'Next conversation',
      'Previous conversation',
      'Reply',
      'Write an internal note',
      'Assign to me',
      'Close the conversation',
    ]) {
      await dialog.getByText(action, { exact: true }).waitFor()
    }
    await dialog.getByRole('button', { name: 'Close' }).click()
    // r, n and / put the cursor where the person will type.
    const focusedId = () => ada.evaluate(() => document.activeElement?.id)
    await ada.locator('body').press('r')
    await expect.poll(focusedId).toBe('reply-text')
    await ada.locator('#reply-text').evaluate((el) => (el as HTMLElement).blur())
    await ada.locator('body').press('n')
    await expect.poll(focusedId).toBe('note-text')
    await ada.locator('#note-text').evaluate((el) => (el as HTMLElement).blur())
    await ada.locator('body').press('/')
    await expect.poll(focusedId).toBe('f-q')
    await ada.locator('#f-q').evaluate((el) => (el as HTMLElement).blur())
    const order = await ada
      .locator('ul.conversation-list > li')
      .evaluateAll((lis) => lis.map((li) => li.getAttribute('data-conversation-id')))
    const at = order.indexOf(conv.hours!)
    await ada.locator('body').press('j')
    await ada.waitForURL(`**/conversations/${order[at + 1]}`)
    await ada.locator('body').press('k')
    await ada.waitForURL(`**/conversations/${conv.hours}`)
    await ada.locator('body').press('a')
    await expect.poll(() => ada.getByTestId('assignee').textContent()).toBe(DEMO.email)
    await ada.locator('body').press('c')
    await ada.getByTestId('conversation-status').getByText('Closed').waitFor()
  })

  it('assigns a conversation to a teammate, who sees it arrive in Mine live', async () => {
    await open(bea, `${base}/conversations?view=mine`)
    await waitLive(bea)
    await open(ada, `${base}/conversations/${conv.parcel}`)
    await ada.getByLabel('Assign to').selectOption(beaId)
    await ada.getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => ada.getByTestId('assignee').textContent()).not.toBe('Nobody')
    await rowOf(bea, conv.parcel!).waitFor()
    await screenshot(bea, 'inbox-mine')
  })

  it('raises a browser notification and a count in the tab title on a hand-off', async () => {
    const context = await e2e.newContext()
    await context.grantPermissions(['notifications'], { origin: e2e.portal.url })
    // Record what the page asks the browser to show (headless Chromium draws no notification).
    await context.addInitScript(() => {
      const shown: Array<{ title: string; body: string | undefined }> = []
      ;(window as unknown as { shownNotifications: typeof shown }).shownNotifications = shown
      const Real = window.Notification
      class Recorded extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options)
          shown.push({ title, body: options?.body })
        }
      }
      Object.defineProperty(Recorded, 'permission', { get: () => Real.permission })
      window.Notification = Recorded as typeof Notification
    })
    const page = await context.newPage()
    await signIn(page, DEMO.email, DEMO.password, `${base}/agents`)
    await waitLive(page)
    await page.getByText('Hand-off notifications on').waitFor()
    const before = (await page.title()).match(/^\((\d+)\) /)?.[1] ?? '0'
    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'visitor-notify-1',
      thread: 'visitor-notify',
      name: 'Nora',
      text: 'I want to talk to a person',
    })
    const { error } = await e2e.stack.serviceClient().rpc('escalate_conversation', {
      tenant_id: DEMO.tenantId,
      conversation_id: sent.conversation_id,
      reason: 'asked for a person',
    })
    if (error) throw new Error(error.message)
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { shownNotifications: unknown[] }).shownNotifications))
      .toEqual([{ title: 'Nora is waiting for a human', body: 'asked for a person' }])
    await expect.poll(() => page.title()).toBe(`(${Number(before) + 1}) Agents · Konstruct Demo`)
    await context.close()
  })

  it('plays a short sound on a hand-off once the person switches it on, and none while it is off', async () => {
    const context = await e2e.newContext()
    // Record the tones the page starts (Web Audio oscillators), whatever the machine's audio.
    await context.addInitScript(() => {
      const tones: number[] = []
      ;(window as unknown as { tones: number[] }).tones = tones
      const start = OscillatorNode.prototype.start
      OscillatorNode.prototype.start = function (this: OscillatorNode, when?: number) {
        tones.push(this.frequency.value)
        return start.call(this, when)
      }
    })
    const page = await context.newPage()
    const tones = () => page.evaluate(() => (window as unknown as { tones: number[] }).tones)
    await signIn(page, DEMO.email, DEMO.password, `${base}/agents`)
    await waitLive(page)
    const sound = page.getByRole('checkbox', { name: 'Sound on hand-off' })
    expect(await sound.isChecked()).toBe(false)
    const handOff = async (thread: string, name: string) => {
      const before = Number((await page.title()).match(/^\((\d+)\) /)?.[1] ?? '0')
      const sent = await ingest(e2e.stack.serviceClient(), {
        connectionId: DEMO.webChatId,
        externalId: `${thread}-1`,
        thread,
        name,
        text: 'A person, please',
      })
      const { error } = await e2e.stack.serviceClient().rpc('escalate_conversation', {
        tenant_id: DEMO.tenantId,
        conversation_id: sent.conversation_id,
        reason: 'asked for a person',
      })
      if (error) throw new Error(error.message)
      await expect.poll(() => page.title()).toMatch(new RegExp(`^\\(${before + 1}\\) `))
    }

    // Off (the default): the hand-off shows in the title, silently.
    await handOff('visitor-quiet', 'Quinn')
    expect(await tones()).toEqual([])

    // Switched on, and kept in this browser across a reload: the next hand-off sounds once.
    await sound.check()
    await page.reload()
    await waitLive(page)
    expect(await page.getByRole('checkbox', { name: 'Sound on hand-off' }).isChecked()).toBe(true)
    await handOff('visitor-loud', 'Lou')
    await expect.poll(tones).toEqual([880])
    await context.close()
  })
})
