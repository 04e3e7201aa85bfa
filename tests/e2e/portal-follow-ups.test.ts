// Portal follow-ups in the browser: the billing page from the nav and the plan's agent
// limit next to the form; tool calls inline in a conversation (also arriving live);
// knowledge file uploads that turn ready live and are searchable; workspace settings with
// a write-only LLM key, read-only for operators; the WhatsApp verify token given to the
// portal's environment; and no supabase-js "insecure user object" warning from the server.
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO, open, screenshot, signIn, startE2E, waitLive, type E2E } from './support/harness.ts'
import { ingest } from './support/ingest.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { buildDocx } from '../support/office-files.ts'

const VERIFY_TOKEN = 'e2e-whatsapp-verify-token'
let e2e: E2E
let admin: Page
// The model endpoint the settings page tests before saving (a trusted local host).
let openai: FakeOpenAI
const portalErrors: string[] = []
const base = `/t/${DEMO.tenantSlug}`

beforeAll(async () => {
  // local/portal.ts passes the caller's WHATSAPP_VERIFY_TOKEN to the portal process.
  process.env.WHATSAPP_VERIFY_TOKEN = VERIFY_TOKEN
  openai = await startFakeOpenAI()
  e2e = await startE2E({ functionEnv: { MODEL_ALLOW_LOCAL_ENDPOINTS: 'true' } })
  e2e.portal.process.stderr?.on('data', (chunk: Buffer) => portalErrors.push(chunk.toString()))
  const context = await e2e.newContext()
  admin = await context.newPage()
  await signIn(admin, DEMO.email, DEMO.password, `${base}/conversations`)
}, 180_000)

afterAll(async () => {
  console.log('[e2e portal-follow-ups] setup ms', JSON.stringify(e2e?.timings))
  delete process.env.WHATSAPP_VERIFY_TOKEN
  await e2e?.close()
  await openai?.close()
})

describe('billing', () => {
  it('opens from the nav and shows the plan, the trial days left and usage against limits', async () => {
    await waitLive(admin)
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Billing' }).click()
    await admin.waitForURL(`**${base}/billing`)
    await admin.getByRole('heading', { name: 'Billing' }).waitFor()
    const plan = admin.getByRole('region', { name: 'Current plan' })
    expect(await plan.locator('.stat').textContent()).toMatch(/Team\s+Trial/)
    expect(await admin.getByTestId('trial-days-left').textContent()).toMatch(/\b1[34]\s+days left in your trial/)
    const usage = admin.getByRole('region', { name: 'Usage this month' })
    expect(await usage.locator('li', { hasText: 'Agents' }).textContent()).toMatch(/Agents\s*1\s+of\s+3/)
    expect(await usage.getByRole('progressbar', { name: 'Agents' }).getAttribute('aria-valuemax')).toBe('3')
    expect(await usage.getByRole('progressbar', { name: 'Messages this month' }).count()).toBe(1)
    expect(await usage.getByRole('progressbar', { name: 'Tokens this month' }).count()).toBe(1)
    await screenshot(admin, 'billing-desktop')
  })

  it('refuses an agent beyond the plan with the plan message next to the form used', async () => {
    await open(admin, `${base}/agents`)
    const card = (name: string) => admin.locator('form.card', { has: admin.getByRole('button', { name }) })
    // Ava is the first of the Team plan's three agents: two more fit.
    for (const name of ['Sales one', 'Sales two']) {
      const form = card('Hire sales assistant')
      await form.getByLabel('Name (optional)').fill(name)
      await form.getByRole('button', { name: 'Hire sales assistant' }).click()
      await admin.locator('tr', { hasText: name }).waitFor()
    }
    const office = card('Hire office manager')
    await office.getByRole('button', { name: 'Hire office manager' }).click()
    const error = office.getByRole('alert')
    await error.waitFor()
    expect(await error.textContent()).toContain(
      'Your Team plan includes 3 agents. Upgrade your plan or add agents on the billing page to hire another.',
    )
    expect(await error.getByRole('link', { name: 'Go to billing' }).getAttribute('href')).toBe(`${base}/billing`)
    // Next to the office manager's card only, and no fourth agent.
    expect(await card('Hire sales assistant').getByRole('alert').count()).toBe(0)
    expect(await admin.locator('tr[data-agent-id]').count()).toBe(3)
    await screenshot(admin, 'agents-plan-limit-desktop')
  })
})

describe('tool calls in the conversation view', () => {
  it('shows tool calls inline, collapsed, with arguments and outcome, and new ones live', async () => {
    const service = e2e.stack.serviceClient()
    const sent = await ingest(service, {
      connectionId: DEMO.webChatId,
      externalId: 'tools-1',
      thread: 'visitor-tools',
      name: 'Toolie',
      text: 'What is the status of order 4711?',
    })
    const record = async (
      tool: string,
      args: Record<string, unknown>,
      status: string,
      result: unknown,
      error: string | null,
    ) => {
      const { data, error: rpcError } = await service.rpc('record_tool_call', {
        tenant_id: DEMO.tenantId,
        conversation_id: sent.conversation_id,
        tool_name: tool,
        arguments: args,
        status,
        result,
        error,
        message_id: sent.message_id,
        idempotency_key: `e2e:${tool}:${status}`,
      })
      if (rpcError) throw new Error(rpcError.message)
      return data as { tool_call_id: string }
    }
    const first = await record('knowledge_search', { query: 'order status 4711' }, 'succeeded', { passages: 0 }, null)

    await open(admin, `${base}/conversations/${sent.conversation_id}`)
    await waitLive(admin)
    const search = admin.locator(`li.tool-call[data-tool-call-id="${first.tool_call_id}"]`)
    await search.waitFor()
    const details = search.locator('details')
    expect(await details.evaluate((el) => (el as HTMLDetailsElement).open)).toBe(false)
    // Right after the message it answered.
    expect(await search.evaluate((el) => el.previousElementSibling?.getAttribute('data-author'))).toBe('contact')
    await search.getByText('Searched the knowledge base').click()
    expect(await details.evaluate((el) => (el as HTMLDetailsElement).open)).toBe(true)
    expect(await search.locator('dd pre').first().textContent()).toContain('"query": "order status 4711"')
    expect(await search.locator('dd pre').nth(1).textContent()).toContain('"passages": 0')
    await screenshot(admin, 'conversation-tool-calls-desktop')

    // A refused call recorded while the page is open shows up with the next live message.
    const second = await record(
      'http_request',
      { url: 'http://169.254.169.254/latest' },
      'refused',
      null,
      'private addresses are never called',
    )
    await service.rpc('record_reply', {
      tenant_id: DEMO.tenantId,
      conversation_id: sent.conversation_id,
      text: 'I could not look that up, sorry.',
      idempotency_key: 'e2e:tools-reply',
    })
    const refused = admin.locator(`li.tool-call[data-tool-call-id="${second.tool_call_id}"][data-status="refused"]`)
    await refused.waitFor({ timeout: 15_000 })
    expect(await refused.locator('summary').textContent()).toMatch(/Called a web API\s*refused/)
    await refused.locator('summary').click()
    expect(await refused.locator('dd.error').textContent()).toBe('private addresses are never called')
  })
})

describe('knowledge uploads', () => {
  it('checks files before sending them', async () => {
    await open(admin, `${base}/knowledge`)
    await admin.getByLabel('Choose files').setInputFiles([
      { name: 'budget.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.from('PK spreadsheet') },
      { name: 'contract.docx', mimeType: 'application/octet-stream', buffer: Buffer.from('PK not a zip file') },
      { name: 'manual.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(10 * 1024 * 1024 + 1, 0x20) },
    ])
    const uploads = admin.getByRole('list', { name: 'Uploads' })
    await uploads
      .locator('li[data-upload="budget.xlsx"][data-state="failed"]')
      .getByText('is not a .txt, .md, .html, .csv, .pdf, .docx or .pptx file')
      .waitFor()
    await uploads
      .locator('li[data-upload="contract.docx"][data-state="failed"]')
      .getByText('is not a Word document that can be read')
      .waitFor()
    await uploads
      .locator('li[data-upload="manual.pdf"][data-state="failed"]')
      .getByText('a PDF can be at most 10 MB')
      .waitFor()
    await uploads.locator('li[data-upload="manual.pdf"]').getByRole('button', { name: 'Dismiss' }).click()
    await uploads.locator('li[data-upload="contract.docx"]').getByRole('button', { name: 'Dismiss' }).click()
    await uploads.locator('li[data-upload="budget.xlsx"]').getByRole('button', { name: 'Dismiss' }).click()
    expect(await admin.getByRole('list', { name: 'Uploads' }).count()).toBe(0)
  })

  it('uploads a Markdown file that becomes ready live and is searchable', async () => {
    await waitLive(admin)
    const markdown = [
      '# Returns',
      '',
      'Kayak paddles can be returned within **45 days** when unused.',
      'Bring the receipt to any Konstruct Outdoors shop.',
    ].join('\n')
    await admin.getByLabel('Choose files').setInputFiles({
      name: 'kayak-returns.md',
      mimeType: 'text/markdown',
      buffer: Buffer.from(markdown),
    })
    const row = admin.locator('tr', { hasText: 'kayak returns' })
    await row.waitFor()
    expect(await row.textContent()).toContain('markdown')
    await row.locator('[data-status="ready"], .badge.ok').first().waitFor()
    expect(await row.locator('.badge').first().textContent()).toBe('ready')
    // No reload happened: the row arrived from the upload and its status from knowledge_source_changed.
    await admin.getByLabel('What would a customer ask?').fill('can I return a kayak paddle')
    await admin.getByRole('button', { name: 'Search', exact: true }).click()
    await admin.getByRole('list', { name: 'Best passages' }).getByText('Kayak paddles can be returned within').waitFor()
    await screenshot(admin, 'knowledge-upload-desktop')
  })

  it('uploads a Word document and a CSV that become ready and searchable', async () => {
    await waitLive(admin)
    await admin.getByLabel('Choose files').setInputFiles([
      {
        name: 'canoe-warranty.docx',
        mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        buffer: Buffer.from(
          buildDocx([
            { heading: 1, text: 'Canoe warranty' },
            { text: 'Canoe hulls are guaranteed for seven years against cracks.' },
          ]),
        ),
      },
      {
        name: 'rental-prices.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from('Boat,Price per day\nCanoe,35 EUR\nSea kayak,48 EUR\n'),
      },
    ])
    for (const [title, kind] of [
      ['canoe warranty', 'docx'],
      ['rental prices', 'csv'],
    ] as const) {
      const row = admin.locator('tr', { hasText: title })
      await row.locator('[data-status="ready"], .badge.ok').first().waitFor()
      expect(await row.textContent()).toContain(kind)
    }
    await admin.getByLabel('What would a customer ask?').fill('how long is the canoe hull guaranteed')
    await admin.getByRole('button', { name: 'Search', exact: true }).click()
    await admin.getByRole('list', { name: 'Best passages' }).getByText('guaranteed for seven years').waitFor()
    await admin.getByLabel('What would a customer ask?').fill('sea kayak price per day')
    await admin.getByRole('button', { name: 'Search', exact: true }).click()
    await admin.getByRole('list', { name: 'Best passages' }).getByText('Boat: Sea kayak').waitFor()
  })

  it('follows a source another admin adds, without polling', async () => {
    await open(admin, `${base}/knowledge`)
    await waitLive(admin)
    const ava = e2e.stack.anonClient()
    await ava.auth.signInWithPassword({ email: DEMO.email, password: DEMO.password })
    const { data, error } = await ava.rpc('create_knowledge_source', {
      tenant_id: DEMO.tenantId,
      title: 'Opening hours (elsewhere)',
      kind: 'html',
      content: '<h1>Hours</h1><p>We open at nine on weekdays.</p>',
    })
    if (error) throw new Error(error.message)
    const row = admin.locator(`tr[data-source-id="${(data as { id: string }).id}"]`)
    await row.waitFor()
    // HTML is reduced to text by the knowledge worker: queued, then ready, all live.
    await admin
      .locator(`tr[data-source-id="${(data as { id: string }).id}"][data-status="ready"]`)
      .waitFor({ timeout: 30_000 })
    await ava.rpc('delete_knowledge_source', { source_id: (data as { id: string }).id })
    await row.waitFor({ state: 'detached' })
  })

  it('pages past the first 100 sources, with live changes in their place', async () => {
    const db = e2e.stack.db.pg
    // 130 older sources, added a month ago, one minute apart.
    await db.query(
      `insert into app.knowledge_sources (tenant_id, title, kind, content, status, chunk_count, created_at, updated_at)
       select $1, 'Archived note ' || lpad(i::text, 3, '0'), 'text', 'Note ' || i, 'ready', 1,
         now() - interval '30 days' - make_interval(mins => i), now() - interval '30 days'
       from generate_series(1, 130) i`,
      [DEMO.tenantId],
    )
    try {
      const titlesInDatabase = async () =>
        (
          await db.query<{ title: string }>(
            `select title from app.knowledge_sources where tenant_id = $1 order by created_at desc, id desc`,
            [DEMO.tenantId],
          )
        ).rows.map((r) => r.title)
      const total = (await titlesInDatabase()).length
      expect(total).toBeGreaterThan(130)

      await open(admin, `${base}/knowledge`)
      await waitLive(admin)
      const rows = admin.locator('tbody tr[data-source-id]')
      expect(await rows.count()).toBe(100)
      const more = admin.getByRole('button', { name: 'Show more sources' })
      await more.waitFor()

      // Live: the oldest note is reprocessed (not shown yet: it waits for its page), then a
      // new source arrives on top (events arrive in order, so the first was handled too).
      await db.query(
        `update app.knowledge_sources set status = 'processing', updated_at = now()
         where tenant_id = $1 and title = 'Archived note 130'`,
        [DEMO.tenantId],
      )
      const ava = e2e.stack.anonClient()
      await ava.auth.signInWithPassword({ email: DEMO.email, password: DEMO.password })
      const { error } = await ava.rpc('create_knowledge_source', {
        tenant_id: DEMO.tenantId,
        title: 'Added while paging',
        kind: 'text',
        content: 'Sources added while an admin pages still appear on top.',
      })
      if (error) throw new Error(error.message)
      await rows.first().filter({ hasText: 'Added while paging' }).waitFor()
      expect(await rows.count()).toBe(101)

      await more.click()
      // While the page loads the button reads "Loading…"; it is gone once the last page is in.
      const expected = await titlesInDatabase()
      await rows.nth(expected.length - 1).waitFor()
      await admin.getByRole('button', { name: /^(Show more sources|Loading…)$/ }).waitFor({ state: 'detached' })
      // Every source once, newest first, the reprocessed one at the bottom with its new state.
      expect(await rows.locator('td:first-child strong').allTextContents()).toEqual(expected)
      expect(await rows.last().getAttribute('data-status')).toBe('processing')
      await screenshot(admin, 'knowledge-paged-desktop')
    } finally {
      await db.query(
        `delete from app.knowledge_sources where tenant_id = $1 and title in ('Added while paging')
           or (tenant_id = $1 and title like 'Archived note %')`,
        [DEMO.tenantId],
      )
    }
  })
})

describe('workspace settings', () => {
  it('renames the workspace, checks and saves the default model, and keeps the LLM key write-only', async () => {
    await open(admin, `${base}/settings`)
    await admin.getByLabel('Workspace name').fill('Konstruct Demo Shop')
    await admin.getByRole('button', { name: 'Rename workspace' }).click()
    await admin.locator('#tenant-switcher option', { hasText: 'Konstruct Demo Shop' }).waitFor({ state: 'attached' })

    await admin.getByLabel('Base URL').fill(openai.url)
    await admin.getByLabel('Model', { exact: true }).fill('llama3.1')
    await admin.getByLabel('Temperature').fill('7')
    await admin.getByRole('button', { name: 'Test and save model settings' }).click()
    await expect
      .poll(() => admin.locator('#s-temperature-error').textContent())
      .toBe('Temperature is a number from 0 to 2.')
    // What was typed stays.
    expect(await admin.getByLabel('Model', { exact: true }).inputValue()).toBe('llama3.1')
    await admin.getByLabel('Temperature').fill('0.2')
    await admin.getByRole('button', { name: 'Test and save model settings' }).click()
    await admin.getByText('Saved. The model “llama3.1” answered.').waitFor()
    await admin.reload()
    // The reloaded form fills in once the page has its settings: wait for them, not the first paint.
    await expect.poll(() => admin.getByLabel('Base URL').inputValue()).toBe(openai.url)
    expect(await admin.getByLabel('Temperature').inputValue()).toBe('0.2')

    const secret = 'sk-e2e-own-key-0123456789'
    expect(await admin.getByTestId('llm-key-state').textContent()).toContain('No key')
    await admin.getByLabel('API key (optional)').fill(secret)
    await admin.getByRole('button', { name: 'Test and save model settings' }).click()
    await admin.getByText('Saved. The model “llama3.1” answered.').waitFor()
    await admin.getByTestId('llm-key-state').getByText('Key set').waitFor()
    expect(openai.requests.at(-1)?.headers['authorization']).toBe(`Bearer ${secret}`)
    expect(await admin.getByLabel('Replace the API key (optional)').inputValue()).toBe('')
    await admin.reload()
    expect(await admin.content()).not.toContain(secret)
    const { data: key } = await e2e.stack.serviceClient().rpc('get_llm_key', { tenant_id: DEMO.tenantId })
    expect(key).toBe(secret)
    await screenshot(admin, 'settings-desktop')

    admin.once('dialog', (dialog) => void dialog.accept())
    await admin.getByRole('button', { name: 'Remove key' }).click()
    await admin.getByText('Key removed.').waitFor()
    await admin.getByTestId('llm-key-state').getByText('No key').waitFor()
    const { data: cleared } = await e2e.stack.serviceClient().rpc('get_llm_key', { tenant_id: DEMO.tenantId })
    expect(cleared).toBeNull()
  })

  it('shows an operator the settings read-only, and the api refuses a forged change', async () => {
    const owner = e2e.stack.anonClient()
    await owner.auth.signInWithPassword({ email: DEMO.email, password: DEMO.password })
    const operator = await e2e.stack.newUser('settings-operator')
    const { data: invitation, error } = await owner.rpc('create_invitation', {
      tenant_id: DEMO.tenantId,
      email: operator.email,
      role: 'operator',
    })
    if (error) throw new Error(error.message)
    const accepted = await operator.client.rpc('accept_invitation', { token: (invitation as { token: string }).token })
    if (accepted.error) throw new Error(accepted.error.message)

    const context = await e2e.newContext()
    const page = await context.newPage()
    await signIn(page, operator.email, operator.password, `${base}/settings`)
    await page.getByText('an owner or admin can change them').waitFor()
    expect(await page.getByLabel('Workspace name').isDisabled()).toBe(true)
    expect(await page.getByLabel('Base URL').isDisabled()).toBe(true)
    for (const name of ['Rename workspace', 'Test and save model settings', 'Remove key']) {
      expect(await page.getByRole('button', { name }).count(), name).toBe(0)
    }
    const forged = await page.evaluate(async () => {
      const body = new FormData()
      body.set('api_key', 'sk-forged')
      const r = await fetch(`${location.pathname}?/model`, {
        method: 'POST',
        body,
        headers: { 'x-sveltekit-action': 'true' },
      })
      return r.json()
    })
    expect(forged.type).toBe('failure')
    expect(forged.status).toBe(403)
    const { data: key } = await e2e.stack.serviceClient().rpc('get_llm_key', { tenant_id: DEMO.tenantId })
    expect(key).toBeNull()
    await context.close()
  })
})

describe('channels and the server log', () => {
  it('shows the WhatsApp verify token the portal was started with', async () => {
    await open(admin, `${base}/channels`)
    await admin.getByRole('button', { name: 'Connect WhatsApp' }).click()
    expect(await admin.locator('#ch-wa-verify').inputValue()).toBe(VERIFY_TOKEN)
  })

  it('shows the Slack install outcome at the address slack-oauth returns to', async () => {
    await open(admin, `/t/${DEMO.tenantId}/channels?slack=installed`)
    await admin.getByRole('heading', { name: 'Channels' }).waitFor()
    await admin.getByRole('status').getByText('Slack is connected.').waitFor()
  })

  it('logs no supabase-js warning about the session user object', () => {
    expect(portalErrors.join('')).not.toMatch(/getSession\(\)|could be insecure/)
  })
})
