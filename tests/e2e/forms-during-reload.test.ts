// What a person types is theirs: a page that reloads its data while they type (the live
// resync on joining, another form's action) must not put the server's value back into
// the field. Svelte resets an input whose `value={…}` is evaluated again after hydration,
// so forms take the server's value as `defaultValue` and the reload is held here until
// the typing is done, to make the race happen every time.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'

let e2e: E2E
let admin: Page
const base = `/t/${DEMO.tenantSlug}`

beforeAll(async () => {
  e2e = await startE2E()
  admin = await (await e2e.newContext()).newPage()
  await signIn(admin, DEMO.email, DEMO.password, `${base}/knowledge`)
}, 300_000)

afterAll(async () => {
  await e2e?.close()
})

/** Holds the page's next data reload until `release` is called; resolves when it has arrived. */
async function holdReload(page: Page): Promise<{ release(): void; arrived: Promise<unknown> }> {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  await page.route(
    (url) => url.pathname.endsWith('/__data.json') && url.searchParams.has('x-sveltekit-invalidated'),
    async (route) => {
      await released
      await route.continue()
    },
    { times: 1 },
  )
  const arrived = page.waitForResponse((r) => r.url().includes('x-sveltekit-invalidated'))
  return { release, arrived }
}

describe('typing while the page reloads its data', () => {
  it('keeps the title and text typed into Add knowledge, and adds them', async () => {
    const reload = await holdReload(admin)
    await open(admin, `${base}/knowledge`)
    await admin.getByLabel('Title').fill('Returns policy')
    await admin.getByRole('textbox', { name: 'Text' }).fill('Returns are free within 30 days of delivery.')
    await waitLive(admin)
    reload.release()
    await reload.arrived
    await admin.waitForLoadState('networkidle')
    expect(await admin.getByLabel('Title').inputValue()).toBe('Returns policy')
    expect(await admin.getByRole('textbox', { name: 'Text' }).inputValue()).toBe(
      'Returns are free within 30 days of delivery.',
    )
    await admin.getByRole('button', { name: 'Add source' }).click()
    await admin.locator('tr', { hasText: 'Returns policy' }).waitFor()
    // A success empties the form for the next source.
    await expect.poll(() => admin.getByLabel('Title').inputValue()).toBe('')
  })

  it("keeps the title typed into a web chat's settings", async () => {
    const reload = await holdReload(admin)
    await open(admin, `${base}/channels`)
    const title = admin.locator(`#title-${DEMO.webChatId}`)
    await admin.locator('details', { has: title }).locator('summary').click()
    await title.fill('Ask the shop')
    await waitLive(admin)
    reload.release()
    await reload.arrived
    await admin.waitForLoadState('networkidle')
    expect(await title.inputValue()).toBe('Ask the shop')
  })
})
