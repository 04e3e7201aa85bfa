// The platform console, with the platform admin and a workspace admin in two browser
// contexts: every workspace with plan, members, channels, usage and cost; suspending a
// workspace tells its admin live and its customers get a polite notice; resuming lifts
// it; support access opens the workspace read-only and is recorded in its audit log; each
// WhatsApp number shows whether its proof of control passed, as the Channels page does.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PLATFORM_ADMIN } from '../../local/demo.ts'
import { DEMO, open, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'

let e2e: E2E
let platform: Page
let admin: Page

beforeAll(async () => {
  e2e = await startE2E()
  platform = await (await e2e.newContext()).newPage()
  admin = await (await e2e.newContext()).newPage()
  await signIn(platform, DEMO_PLATFORM_ADMIN.email, DEMO_PLATFORM_ADMIN.password)
  await signIn(admin, DEMO.email, DEMO.password, `/t/${DEMO.tenantSlug}/conversations`)
}, 300_000)

afterAll(async () => {
  await e2e?.close()
})

describe('the platform console', () => {
  it('lists every workspace with plan, members, channels and cost this month', async () => {
    // A platform admin in no workspace lands on the console.
    await platform.waitForURL('**/platform')
    const row = platform.locator(`tr[data-tenant-id="${DEMO.tenantId}"]`)
    await row.waitFor()
    const cells = await row.locator('td').allTextContents()
    expect(cells[0]).toContain('Konstruct Demo')
    expect(cells[1]).toBe('Team')
    expect(cells[3]).toBe('1')
    expect(cells[4]).toBe('3')
    expect(cells[7]).toMatch(/^\$/)
    await row.getByRole('link', { name: 'Konstruct Demo' }).click()
    await platform.getByRole('region', { name: 'Members' }).getByText(DEMO.email).waitFor()
    expect(await platform.getByRole('region', { name: 'Channels' }).locator('li').count()).toBe(3)
    await screenshot(platform, 'platform-console-tenant')
  })

  it('suspends a workspace: its admin is told live and customers get a polite notice; resuming lifts it', async () => {
    await waitLive(admin)
    await platform.getByRole('button', { name: 'Suspend workspace' }).click()
    await platform.getByRole('alert').getByText('Say why').waitFor()
    await platform.getByLabel('Reason').fill('Spam reports from customers')
    await platform.getByRole('button', { name: 'Suspend workspace' }).click()
    await platform.getByTestId('tenant-state').getByText('Suspended').waitFor()

    const banner = admin.getByTestId('suspended')
    await banner.waitFor()
    expect(await banner.textContent()).toContain('Spam reports from customers')

    const sent = await ingest(e2e.stack.serviceClient(), {
      connectionId: DEMO.webChatId,
      externalId: 'suspended-1',
      thread: 'visitor-suspended',
      text: 'Hello, anyone?',
    })
    await open(admin, `/t/${DEMO.tenantSlug}/conversations/${sent.conversation_id}`)
    await admin
      .locator('li[data-author="system"]')
      .getByText('Sorry, this assistant is not available right now.', { exact: false })
      .waitFor()
    await waitLive(admin)

    await platform.getByRole('button', { name: 'Resume workspace' }).click()
    await platform.getByTestId('tenant-state').getByText('Active').waitFor()
    await admin.getByTestId('suspended').waitFor({ state: 'detached' })
  })

  it('opens a workspace read-only for support, recorded in its audit log', async () => {
    await platform.getByLabel('Why (optional, e.g. a ticket number)').fill('ticket 4711')
    await platform.getByRole('button', { name: 'Open portal (read-only)' }).click()
    await platform.waitForURL(`**/t/${DEMO.tenantId}/conversations`)
    await platform.getByTestId('support-view').waitFor()
    await platform.locator('ul.conversation-list > li').first().locator('a').click()
    await platform.locator('li[data-message-id]').first().waitFor()
    expect(await platform.getByRole('button', { name: 'Take over' }).count()).toBe(0)
    expect(await platform.getByLabel(/Reply as/).count()).toBe(0)

    await open(admin, `/t/${DEMO.tenantSlug}/audit?action=support.`)
    const entry = admin.locator('tr', { hasText: 'support.access_started' })
    await entry.waitFor()
    expect(await entry.textContent()).toContain('ticket 4711')
  })

  it('shows each WhatsApp number as verified, checking, or not verified with the reason', async () => {
    const reason = 'The access token does not reach this phone number in that WhatsApp Business Account.'
    const ids = await e2e.stack.db.asOwner(async (tx) => {
      const rows = await tx.query<{ id: string; name: string }>(
        `insert into app.channel_connections (tenant_id, kind, name, whatsapp_phone_number_id,
           whatsapp_business_account_id, whatsapp_display_phone_number, whatsapp_verified_at, whatsapp_verification_error)
         values ($1, 'whatsapp', 'WA proved', 'pn-console-1', 'waba-console', '+1 555 0101', now(), null),
                ($1, 'whatsapp', 'WA failed', 'pn-console-2', 'waba-console', '+1 555 0102', null, $2),
                ($1, 'whatsapp', 'WA pending', 'pn-console-3', 'waba-console', '+1 555 0103', null, null)
         returning id, name`,
        [DEMO.tenantId, reason],
      )
      return Object.fromEntries(rows.rows.map((row) => [row.name, row.id]))
    })
    try {
      await open(platform, `/platform/${DEMO.tenantId}`)
      const channel = (name: string) => platform.locator(`li[data-channel-id="${ids[name]}"]`)
      expect(await channel('WA proved').getByTestId('whatsapp-verification').textContent()).toBe('Number verified')
      expect(await channel('WA failed').getByTestId('whatsapp-verification').textContent()).toBe('Number not verified')
      expect(await channel('WA failed').getByTestId('whatsapp-verification-detail').textContent()).toBe(reason)
      expect(await channel('WA pending').getByTestId('whatsapp-verification').textContent()).toBe(
        'Checking the number…',
      )
      // The demo's own number (seeded as proved) shows as such; web chat carries no such badge.
      expect(
        await platform
          .locator('li[data-channel-id="30000000-0000-4000-8000-000000000003"]')
          .getByTestId('whatsapp-verification')
          .textContent(),
      ).toBe('Number verified')
      expect(
        await platform.locator(`li[data-channel-id="${DEMO.webChatId}"]`).getByTestId('whatsapp-verification').count(),
      ).toBe(0)
      await screenshot(platform, 'platform-console-whatsapp-verification')
    } finally {
      await e2e.stack.db.asOwner((tx) =>
        tx.query(`delete from app.channel_connections where id = any($1::uuid[])`, [Object.values(ids)]),
      )
    }
  })
})
