// Every page of the portal checked by axe-core in light and dark mode: no serious or
// critical violation. And a skip link: the first Tab stop jumps straight to the content.
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PLATFORM_ADMIN } from '../../local/demo.ts'
import { seriousViolations } from './support/axe.ts'
import { DEMO, open, signIn, startE2E, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'

const base = `/t/${DEMO.tenantSlug}`
let e2e: E2E
let conversationId: string
let contactId: string

beforeAll(async () => {
  e2e = await startE2E()
  const sent = await ingest(e2e.stack.serviceClient(), {
    connectionId: DEMO.webChatId,
    externalId: 'a11y-1',
    thread: 'visitor-a11y',
    name: 'Ada',
    text: 'Where is my **order**? [Track it](https://shop.example/track), `#1234`:\n\n- one\n- two\n\n> quoted',
  })
  conversationId = sent.conversation_id
  contactId = sent.contact_id
  // A memory, so the contact page shows its delete button.
  const saved = await e2e.stack.serviceClient().rpc('save_memory', {
    tenant_id: DEMO.tenantId,
    contact_id: contactId,
    agent_id: DEMO.agentId,
    content: 'Orders every Monday',
  })
  if (saved.error) throw new Error(saved.error.message)
}, 300_000)

afterAll(async () => {
  await e2e?.close()
})

// An invitation link with a token nobody issued: the page still renders (signed out it asks
// to sign in, signed in it says the link is not valid).
const INVITE = '/invite/not-a-real-invitation-token'
const signedOutPages = ['/login', '/signup', '/reset-password', INVITE]
/** Paths with :conversation and :contact filled in once the fixture exists. */
const expand = (path: string) => path.replace(':conversation', conversationId).replace(':contact', contactId)
const adminPages = [
  `${base}/dashboard`,
  `${base}/conversations`,
  `${base}/conversations/:conversation`,
  `${base}/contacts`,
  `${base}/contacts/:contact`,
  `${base}/agents`,
  `${base}/agents/${DEMO.agentId}`,
  `${base}/agents/new`,
  `${base}/channels`,
  `${base}/knowledge`,
  `${base}/knowledge/40000000-0000-4000-8000-000000000001`,
  `${base}/usage`,
  `${base}/members`,
  `${base}/billing`,
  `${base}/settings`,
  `${base}/audit`,
  '/onboarding',
  // The wizard of a set-up workspace shows every step: knowledge, model, channel, test chat.
  `/onboarding?t=${DEMO.tenantId}`,
  '/auth/update-password',
  INVITE,
]
const platformPages = ['/platform', `/platform/${DEMO.tenantId}`]

describe.each(['light', 'dark'] as const)('axe in %s mode', (colorScheme) => {
  let signedOut: BrowserContext
  let admin: BrowserContext
  let platform: BrowserContext
  beforeAll(async () => {
    signedOut = await e2e.newContext({ colorScheme })
    admin = await e2e.newContext({ colorScheme })
    platform = await e2e.newContext({ colorScheme })
    await signIn(await admin.newPage(), DEMO.email, DEMO.password, `${base}/conversations`)
    await signIn(await platform.newPage(), DEMO_PLATFORM_ADMIN.email, DEMO_PLATFORM_ADMIN.password)
  }, 120_000)
  afterAll(async () => {
    await Promise.all([signedOut?.close(), admin?.close(), platform?.close()])
  })

  const pages: Array<[string, () => BrowserContext, () => string]> = [
    ...signedOutPages.map((path): [string, () => BrowserContext, () => string] => [path, () => signedOut, () => path]),
    ...adminPages.map((path): [string, () => BrowserContext, () => string] => [path, () => admin, () => expand(path)]),
    ...platformPages.map((path): [string, () => BrowserContext, () => string] => [
      path,
      () => platform,
      () => expand(path),
    ]),
  ]
  it.each(pages)(
    '%s has no serious violation',
    async (_name, context, path) => {
      const page = await context().newPage()
      await open(page, path())
      const found = await seriousViolations(page)
      await page.close()
      expect(found).toEqual([])
    },
    60_000,
  )
})

describe('skip link', () => {
  it('is the first Tab stop and moves focus to the content', async () => {
    const context = await e2e.newContext()
    const page = await context.newPage()
    await signIn(page, DEMO.email, DEMO.password, `${base}/conversations`)
    await page.keyboard.press('Tab')
    const focused = page.locator(':focus')
    expect(await focused.textContent()).toBe('Skip to content')
    expect(await focused.isVisible()).toBe(true)
    await page.keyboard.press('Enter')
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('main')
    // The next Tab stop is inside the content, not the navigation.
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => !!document.activeElement?.closest('main'))).toBe(true)
    await context.close()
  })
})
