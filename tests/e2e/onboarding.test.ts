// Sign up → onboarding wizard → an agent from a template → web chat → dashboard, in a
// real browser against a fresh local stack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DESKTOP, PHONE, overflowsHorizontally, screenshot, startE2E, type E2E } from './support/harness.ts'

let e2e: E2E

beforeAll(async () => {
  e2e = await startE2E()
}, 180_000)

afterAll(async () => {
  console.log('[e2e onboarding] setup ms', JSON.stringify(e2e?.timings))
  await e2e?.close()
})

describe('onboarding', () => {
  it('takes a new user from sign up to an agent answering a web chat test message, on one page', async () => {
    const context = await e2e.newContext({ viewport: DESKTOP })
    const page = await context.newPage()
    const email = `founder-${Date.now()}@example.test`

    await page.goto('/')
    await page.waitForURL(/\/login/)
    await page.getByRole('link', { name: 'Create an account' }).click()
    await page.getByLabel('Work email').fill(email)
    await page.getByLabel('Password').fill('correct-horse-battery-staple')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.waitForURL(/\/onboarding/)

    // An empty name is refused next to the field.
    await page.getByLabel('Business name').fill('   ')
    await page.getByRole('button', { name: 'Continue' }).click()
    await expect.poll(() => page.locator('#business-name-error').textContent()).toMatch(/name of your business/)

    await page.getByLabel('Business name').fill('Acme Plumbing')
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.getByRole('heading', { name: '2. Hire your first AI employee' }).waitFor()
    expect(page.url()).toMatch(/\/onboarding\?t=/)
    await screenshot(page, 'onboarding-agent-desktop')

    await page.getByLabel(/Customer support rep/).check()
    await page.getByLabel('Name (optional)').fill('Penny')
    await page.getByRole('button', { name: 'Hire this agent' }).click()
    await page.getByText('is on the team').waitFor()
    await page.getByRole('heading', { name: '3. Connect a channel' }).waitFor()

    // WhatsApp shows the webhook URL to copy.
    await page.getByRole('button', { name: 'WhatsApp', exact: true }).click()
    expect(await page.getByRole('textbox', { name: 'Callback URL' }).inputValue()).toBe(
      `${e2e.stack.url}/functions/v1/whatsapp-webhook`,
    )
    await page.getByRole('button', { name: 'Slack', exact: true }).click()
    await page.getByRole('link', { name: 'Add to Slack' }).waitFor()

    await page.getByRole('button', { name: 'Web chat', exact: true }).click()
    await page.getByRole('button', { name: 'Connect web chat' }).click()
    await page.getByRole('heading', { name: /4\. Say hello to Penny/ }).waitFor()
    // The test message goes through the web-chat function like a visitor's; the agent's
    // answer (offline mode: no model configured) arrives live, without leaving the page.
    await page.getByLabel('Your message').fill('Hello! When are you open?')
    await page.getByRole('button', { name: 'Send' }).click()
    await page.locator('.bubble[data-who="you"]', { hasText: 'When are you open?' }).waitFor()
    const answer = page.locator('.bubble[data-who="agent"]')
    await answer.waitFor({ timeout: 20_000 })
    expect(await answer.textContent()).toMatch(/offline mode/i)
    expect(page.url()).toMatch(/\/onboarding\?t=/)
    await screenshot(page, 'onboarding-test-desktop')

    await page.setViewportSize(PHONE)
    expect(await overflowsHorizontally(page)).toBe(false)
    await screenshot(page, 'onboarding-test-phone')
    // Back at desktop width, where the main navigation is shown beside the page.
    await page.setViewportSize(DESKTOP)

    await page.getByRole('link', { name: 'Go to your dashboard' }).click()
    await page.waitForURL(/\/t\/acme-plumbing-[0-9a-f]+\/dashboard/)
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
    // The wizard's test chat is no customer conversation: the dashboard counts none.
    expect(await page.getByTestId('conversations').textContent()).toBe('0')
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: /^Conversations/ })
      .click()
    await page.waitForURL(/\/t\/acme-plumbing-[0-9a-f]+\/conversations/)
    // The wizard's test conversation is the first one in the list, marked as a test.
    const first = page.locator('ul.conversation-list > li[data-conversation-id]').first()
    await first.waitFor()
    expect(await first.locator('.badge').allTextContents()).toContain('Test')
    // And it did not count toward the plan.
    await page.goto(page.url().replace(/\/conversations.*$/, '/billing'))
    const usage = page.getByRole('region', { name: 'Usage this month' })
    await usage.waitFor()
    expect(await usage.locator('li', { hasText: 'Messages this month' }).textContent()).toMatch(
      /Messages this month\s*0\s/,
    )

    // The front door now goes to the tenant.
    await page.goto('/')
    await page.waitForURL(/\/t\/acme-plumbing-[0-9a-f]+\/conversations/)
    await context.close()
  }, 60_000)
})
