// Sign up → onboarding wizard → an agent from a template → its knowledge → a model → web
// chat → dashboard, in a real browser against a fresh local stack. The model is a fake
// OpenAI-compatible server (tests/fakes) that answers from the knowledge it is sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { DESKTOP, PHONE, open, overflowsHorizontally, screenshot, startE2E, type E2E } from './support/harness.ts'

let e2e: E2E
let openai: FakeOpenAI

// What the new admin pastes, and what the fake model says when (and only when) its request
// carries it.
const KNOWLEDGE =
  'Acme Plumbing is open Tuesday to Saturday from 8am to 6pm. An emergency call-out costs 95 dollars ' +
  'and we cover every postcode of Springfield. Boilers are serviced on Thursdays only.'
const KNOWN_ANSWER = 'We are open Tuesday to Saturday from 8am to 6pm.'

beforeAll(async () => {
  openai = await startFakeOpenAI()
  openai.respondWith((body) => ({
    text: JSON.stringify(body?.messages ?? []).includes('Tuesday to Saturday') ? KNOWN_ANSWER : 'I do not know that.',
  }))
  // The tenant's endpoint is the fake on 127.0.0.1, which only this setting lets agents call.
  e2e = await startE2E({ functionEnv: { MODEL_ALLOW_LOCAL_ENDPOINTS: 'true' } })
}, 180_000)

afterAll(async () => {
  console.log('[e2e onboarding] setup ms', JSON.stringify(e2e?.timings))
  await e2e?.close()
  await openai?.close()
})

async function signUp(page: Page, email: string) {
  await page.goto('/')
  await page.waitForURL(/\/login/)
  await page.getByRole('link', { name: 'Create an account' }).click()
  await page.getByLabel('Work email').fill(email)
  await page.getByLabel('Password').fill('correct-horse-battery-staple')
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.waitForURL(/\/onboarding/)
}

async function hirePenny(page: Page) {
  await page.getByLabel(/Customer support rep/).check()
  await page.getByLabel('Name (optional)').fill('Penny')
  await page.getByRole('button', { name: 'Hire this agent' }).click()
  await page.getByText('is on the team').waitFor()
}

describe('onboarding', () => {
  it('takes a new user from sign up to an agent answering a web chat test message, on one page', async () => {
    const context = await e2e.newContext({ viewport: DESKTOP })
    const page = await context.newPage()
    const email = `founder-${Date.now()}@example.test`

    await signUp(page, email)

    // An empty name is refused next to the field.
    await page.getByLabel('Business name').fill('   ')
    await page.getByRole('button', { name: 'Continue' }).click()
    await expect.poll(() => page.locator('#business-name-error').textContent()).toMatch(/name of your business/)

    await page.getByLabel('Business name').fill('Acme Plumbing')
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.getByRole('heading', { name: '2. Hire your first AI employee' }).waitFor()
    expect(page.url()).toMatch(/\/onboarding\?t=/)
    await screenshot(page, 'onboarding-agent-desktop')

    await hirePenny(page)

    // 3. Knowledge: an empty paste is refused next to the field; a paragraph is added and
    // becomes searchable (its processing shows live).
    await page.getByRole('heading', { name: '3. Teach it about your business' }).waitFor()
    await page.getByRole('button', { name: 'Add this knowledge' }).click()
    await expect
      .poll(() => page.locator('#knowledge-content-error').textContent())
      .toMatch(/Paste the text your agent should know/)
    await page.getByLabel('Title (optional)').fill('Opening hours and prices')
    await page.getByLabel('What your agent should know').fill(KNOWLEDGE)
    await page.getByRole('button', { name: 'Add this knowledge' }).click()
    const source = page.getByRole('list', { name: 'Knowledge sources' }).getByRole('listitem')
    await source.filter({ hasText: 'Opening hours and prices' }).waitFor()
    await page.locator('li[data-status="ready"]', { hasText: 'Opening hours and prices' }).waitFor()

    // 4. The model: a key the endpoint refuses is said so and saves nothing; the right one
    // is tested with a tiny request and saved.
    await page.getByRole('heading', { name: '4. Choose a model (optional)' }).waitFor()
    await page.getByLabel('Base URL').fill(openai.url)
    await page.getByLabel('Model', { exact: true }).fill('gpt-onboarding')
    await page.getByLabel('API key (optional)').fill('sk-mistyped')
    openai.failNext(1, { status: 401 })
    await page.getByRole('button', { name: 'Test and save' }).click()
    await page.getByRole('alert').getByText('The endpoint refused the API key (HTTP 401). Check the key.').waitFor()
    expect(await page.getByRole('heading', { name: '5. Connect a channel' }).count()).toBe(0)
    await page.getByLabel('API key (optional)').fill('sk-onboarding')
    await page.getByRole('button', { name: 'Test and save' }).click()
    await page.getByRole('status').getByText('Saved. The model “gpt-onboarding” answered.').waitFor()
    expect(openai.requests.at(-1)?.headers['authorization']).toBe('Bearer sk-onboarding')
    await screenshot(page, 'onboarding-knowledge-model-desktop')

    await page.getByRole('heading', { name: '5. Connect a channel' }).waitFor()

    // WhatsApp shows the webhook URL to copy.
    await page.getByRole('button', { name: 'WhatsApp', exact: true }).click()
    expect(await page.getByRole('textbox', { name: 'Callback URL' }).inputValue()).toBe(
      `${e2e.stack.url}/functions/v1/whatsapp-webhook`,
    )
    await page.getByRole('button', { name: 'Slack', exact: true }).click()
    await page.getByRole('link', { name: 'Add to Slack' }).waitFor()

    await page.getByRole('button', { name: 'Web chat', exact: true }).click()
    await page.getByRole('button', { name: 'Connect web chat' }).click()
    await page.getByRole('heading', { name: /6\. Say hello to Penny/ }).waitFor()
    // The test message goes through the web-chat function like a visitor's; the agent's
    // answer, from the model set above with the pasted knowledge, arrives live on this page.
    const before = openai.chatRequests().length
    await page.getByLabel('Your message').fill('Hello! When are you open?')
    await page.getByRole('button', { name: 'Send' }).click()
    await page.locator('.bubble[data-who="you"]', { hasText: 'When are you open?' }).waitFor()
    const answer = page.locator('.bubble[data-who="agent"]')
    await answer.waitFor({ timeout: 20_000 })
    expect(await answer.textContent()).toContain(KNOWN_ANSWER)
    // The model was asked with the pasted paragraph, whole, and the admin's key.
    const asked = openai.requests.filter((r) => r.path === '/v1/chat/completions').slice(before)
    const withKnowledge = asked.find((r) => JSON.stringify(r.body.messages).includes(KNOWLEDGE))
    expect(withKnowledge, 'a chat request carrying the pasted knowledge').toBeTruthy()
    expect(withKnowledge!.headers['authorization']).toBe('Bearer sk-onboarding')
    expect(withKnowledge!.body.model).toBe('gpt-onboarding')
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
    // Nor did the model's tokens for its answers (they were real calls, with the admin's key).
    expect(await usage.locator('li', { hasText: 'Tokens this month' }).textContent()).toMatch(/Tokens this month\s*0\s/)

    // The front door now goes to the tenant.
    await page.goto('/')
    await page.waitForURL(/\/t\/acme-plumbing-[0-9a-f]+\/conversations/)
    await context.close()
  }, 180_000)

  it('lets a new admin skip the knowledge and the model, and remembers it; the agent then answers offline', async () => {
    const context = await e2e.newContext({ viewport: DESKTOP })
    const page = await context.newPage()
    await signUp(page, `skipper-${Date.now()}@example.test`)
    await page.getByLabel('Business name').fill('Skip Bakery')
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.getByRole('heading', { name: '2. Hire your first AI employee' }).waitFor()
    await hirePenny(page)
    const chatRequests = openai.chatRequests().length

    await page.getByRole('heading', { name: '3. Teach it about your business' }).waitFor()
    await page.getByRole('button', { name: 'Skip for now' }).click()
    await page.getByText('Skipped. Until it has knowledge').waitFor()
    await page.getByRole('heading', { name: '4. Choose a model (optional)' }).waitFor()
    await page.getByRole('button', { name: 'Skip for now' }).click()
    await page.getByText("Skipped: your agents use the platform's model").waitFor()
    await page.getByRole('heading', { name: '5. Connect a channel' }).waitFor()

    // A reload (or coming back later) resumes at the channel: the skips are remembered.
    await open(page, new URL(page.url()).pathname + new URL(page.url()).search)
    await page.getByRole('heading', { name: '5. Connect a channel' }).waitFor()
    expect(await page.getByRole('button', { name: 'Skip for now' }).count()).toBe(0)

    await page.getByRole('button', { name: 'Connect web chat' }).click()
    await page.getByRole('heading', { name: /6\. Say hello to Penny/ }).waitFor()
    await page.getByLabel('Your message').fill('Hello! Do you sell rye bread?')
    await page.getByRole('button', { name: 'Send' }).click()
    const answer = page.locator('.bubble[data-who="agent"]')
    await answer.waitFor({ timeout: 20_000 })
    // No model configured anywhere: the honest offline mode, and no model was called.
    expect(await answer.textContent()).toMatch(/offline mode/i)
    expect(openai.chatRequests().length).toBe(chatRequests)
    await context.close()
  }, 120_000)

  it('takes the knowledge as an uploaded file, refusing one it cannot read with the reason', async () => {
    const context = await e2e.newContext({ viewport: DESKTOP })
    const page = await context.newPage()
    await signUp(page, `uploader-${Date.now()}@example.test`)
    await page.getByLabel('Business name').fill('Upload Garage')
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.getByRole('heading', { name: '2. Hire your first AI employee' }).waitFor()
    await hirePenny(page)
    await page.getByRole('button', { name: 'Upload a file' }).click()
    const files = page.getByLabel('Choose files')
    await files.setInputFiles({ name: 'setup.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') })
    await page
      .getByRole('alert')
      .getByText(/setup\.exe is not a .*file/)
      .waitFor()
    expect(await page.getByRole('list', { name: 'Knowledge sources' }).count()).toBe(0)
    await files.setInputFiles({
      name: 'garage-prices.md',
      mimeType: 'text/markdown',
      buffer: Buffer.from('# Prices\n\nAn MOT test costs 54 pounds. Tyres are fitted while you wait.\n'),
    })
    await page.locator('li[data-status="ready"]', { hasText: 'garage prices' }).waitFor()
    await page.getByRole('heading', { name: '4. Choose a model (optional)' }).waitFor()
    await context.close()
  }, 120_000)
})
