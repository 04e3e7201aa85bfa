// Knowledge ingestion end to end on the local stack. An admin uploads text, Markdown, HTML
// and PDF (base64) through api.create_knowledge_source; pg_net wakes the agent worker for
// knowledge_jobs at once (the cron safety net is switched off here to prove it); the worker
// extracts, chunks and embeds through the fake OpenAI embeddings endpoint; the agent then
// answers from a PDF passage found by a natural-language question.
//
// URL sources: the deployed function resolves names with real DNS, so its test is the
// refusal of an address literal (127.0.0.1). Fetching a "public" site is run through the
// same worker code in-process with an injected resolver and fetch (as the unit tests of
// the guarded client do): docs.partner.example resolves to a public address and is served
// by a local server; a redirect to the metadata address and a name resolving to a private
// address are refused.
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createApi } from '../../shared/api/client.ts'
import { createAgentStore } from '../../shared/agent/store.ts'
import { createAgentWorker } from '../../shared/agent/worker/agent-worker.ts'
import { readWorkerConfig } from '../../shared/agent/worker/config.ts'
import { DEV_WORKER_SECRET } from '../../local/dev-secrets.ts'
import type { ReplyDeliveries } from '../../shared/agent/worker/deliveries.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { buildDocx, buildPptx } from '../support/office-files.ts'
import { setWakeUps as setStackWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

const TENANT = '10000000-0000-4000-8000-000000000001'
const WEB_CHAT = '30000000-0000-4000-8000-000000000001'
const PDF = readFileSync(new URL('../unit/agent/fixtures/returns-policy-chromium.pdf', import.meta.url))
const SCANNED_PDF = Buffer.from(
  [
    '%PDF-1.4',
    '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj',
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj',
    '3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /XObject << /Im1 5 0 R >> >> >> endobj',
    '4 0 obj << /Length 30 >> stream\nq 612 0 0 792 0 0 cm /Im1 Do Q\nendstream endobj',
    '5 0 obj << /Type /XObject /Subtype /Image /Width 1 /Height 1 /BitsPerComponent 8 /ColorSpace /DeviceGray /Length 1 >> stream\n\x80\nendstream endobj',
    'trailer << /Root 1 0 R >>',
    '%%EOF',
  ].join('\n'),
  'latin1',
)

let stack: TestStack
let fake: FakeOpenAI
let admin: SupabaseClient
let service: SupabaseClient
let site: Server
let siteUrl: string

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

interface SourceRow {
  status: string
  error: string | null
  chunk_count: number
  embedded: number
}
const source = async (id: string) =>
  (
    await sql<SourceRow>(
      `select s.status, s.error, s.chunk_count,
         (select count(*)::integer from app.knowledge_chunks c where c.source_id = s.id and c.embedding is not null) as embedded
       from app.knowledge_sources s where s.id = $1`,
      [id],
    )
  )[0]!

const settled = (id: string) =>
  until(async () => {
    const row = await source(id)
    return row.status === 'ready' || row.status === 'failed' ? row : undefined
  }, `source ${id} to settle`)

async function upload(title: string, kind: string, content: string | null, uri: string | null = null) {
  const { data, error } = await admin.rpc('create_knowledge_source', { tenant_id: TENANT, title, kind, content, uri })
  if (error) throw new Error(`upload failed: ${error.message}`)
  return (data as { id: string }).id
}

const setWakeUps = (enabled: boolean) => setStackWakeUps(stack, enabled)

beforeAll(async () => {
  fake = await startFakeOpenAI()
  site = createServer((req, res) => {
    const path = req.url ?? '/'
    if (path === '/faq.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(
        '<html><head><style>p{}</style><script>var x = "ignored"</script></head><body><h1>Partner FAQ</h1><p>Gift cards never expire &amp; can be topped up in store.</p></body></html>',
      )
    } else if (path === '/prices.csv') {
      res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' })
      res.end('Plan,Price\nPartner,19 EUR\n')
    } else if (path === '/terms.docx') {
      res.writeHead(200, { 'content-type': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' })
      res.end(buildDocx([{ heading: 1, text: 'Payment' }, { text: 'Invoices are due in 30 days.' }]))
    } else if (path === '/manual.pdf') {
      res.writeHead(200, { 'content-type': 'application/pdf' })
      res.end(PDF)
    } else if (path === '/moved') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' })
      res.end()
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found')
    }
  })
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`
  stack = await startTestStack({
    functionEnv: {
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test-platform',
      OPENAI_EMBEDDINGS_MODEL: 'text-embedding-3-small',
      WORKER_MAX_ATTEMPTS: '2',
      WORKER_RETRY_BASE_DELAY_SECONDS: '1',
      WORKER_MEMORY_QUIET_SECONDS: '0',
      WORKER_TIME_BUDGET_MS: '25000',
      WORKER_JOB_RESERVE_MS: '5000',
    },
  })
  service = stack.serviceClient()
  admin = stack.anonClient()
  const { error } = await admin.auth.signInWithPassword({ email: 'admin@konstruct.local', password: 'konstruct-demo' })
  if (error) throw error
  // No safety net: only pg_net's wake-up after the enqueue can start the work.
  await stack.db.asOwner(async (tx) => {
    await tx.query(`select cron.unschedule('konstruct-agent-worker-safety-net')`)
  })
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await fake?.close()
  await new Promise((resolve) => site?.close(resolve))
})

describe('knowledge ingestion through the deployed worker', () => {
  test('text, Markdown, HTML and PDF uploads are woken at once, chunked and embedded', async () => {
    const embeddingsBefore = fake.requests.filter((r) => r.path === '/v1/embeddings').length
    const text = await upload('Store hours', 'text', 'The Porto store opens at 10:00 on Sundays.')
    const markdown = await upload(
      'Care guide',
      'markdown',
      '# Care\n\nWash linen shirts **cold**, inside out.\n\n## Drying\n\nHang to dry.',
    )
    const html = await upload(
      'Sizes',
      'html',
      '<nav><a href="/">Home</a> <a href="/shop">Shop</a></nav><h1>Size guide</h1><p title="fit > style">Our <b>jack</b>ets run one size small &ndash; caf&eacute; colours too.</p><script>alert(1)</script>',
    )
    const pdf = await upload('Returns policy (PDF)', 'pdf', PDF.toString('base64'))
    for (const id of [text, markdown, html, pdf]) {
      // Pasted text is ready (full text) at once; wait for its embeddings too.
      const row = await until(async () => {
        const r = await settled(id)
        return r.embedded > 0 || r.status === 'failed' ? r : undefined
      }, 'embeddings')
      expect(row).toMatchObject({ status: 'ready', error: null })
      expect(row.chunk_count).toBeGreaterThan(0)
      expect(row.embedded).toBe(row.chunk_count)
    }
    const htmlChunks = await sql<{ content: string; heading: string }>(
      `select content, heading from app.knowledge_chunks where source_id = $1`,
      [html],
    )
    // The page's heading is the passage's section title, searchable with it; entities are
    // decoded, a word split by a tag stays one word, navigation and scripts are left out.
    expect(htmlChunks).toEqual([
      { content: 'Our jackets run one size small – café colours too.', heading: 'Sizes\nSize guide' },
    ])
    const pdfChunks = await sql<{ content: string; heading: string }>(
      `select content, heading from app.knowledge_chunks where source_id = $1 order by chunk_index`,
      [pdf],
    )
    expect(pdfChunks.map((c) => c.content).join('\n')).toContain('Warranty claims are handled by the support team')
    // The PDF's headings (set larger than its text) are its passages' sections.
    expect(pdfChunks.map((c) => c.heading)).toEqual([
      'Returns policy (PDF)\nKonstruct Returns Policy',
      'Returns policy (PDF)\nKonstruct Returns Policy › Opening hours',
    ])
    const embeddingCalls = fake.requests.filter((r) => r.path === '/v1/embeddings').slice(embeddingsBefore)
    expect(embeddingCalls.length).toBeGreaterThanOrEqual(4)
    expect(embeddingCalls[0]!.body).toMatchObject({ model: 'text-embedding-3-small', dimensions: 1536 })
    const usage = await sql(
      `select 1 from app.usage_events where kind = 'embedding' and metadata ->> 'source_id' = $1`,
      [pdf],
    )
    expect(usage.length).toBeGreaterThan(0)
  })

  test('CSV, Word and PowerPoint uploads become passages that keep their header names and sections', async () => {
    const csv = await upload('Price list', 'csv', 'Plan;Price;Support\nStarter;9 €;email\nPro;"29 €";"phone; chat"\n')
    const docx = await upload(
      'Warranty terms',
      'docx',
      Buffer.from(
        buildDocx([
          { heading: 1, text: 'Warranty' },
          { text: 'Frames are covered for ', bold: 'five years' },
          { heading: 2, text: 'Claims' },
          { text: 'Send the receipt and the serial number.' },
        ]),
      ).toString('base64'),
    )
    const pptx = await upload(
      'Sales deck',
      'pptx',
      Buffer.from(
        buildPptx([
          { title: 'Pricing', body: ['Starter is 9 € a month.'] },
          { title: 'Onboarding', body: ['A kickoff call in the first week.'] },
        ]),
      ).toString('base64'),
    )
    const chunks = async (id: string) =>
      sql<{ content: string; heading: string }>(
        `select content, heading from app.knowledge_chunks where source_id = $1 order by chunk_index`,
        [id],
      )
    for (const id of [csv, docx, pptx]) expect(await settled(id)).toMatchObject({ status: 'ready', error: null })
    expect(await chunks(csv)).toEqual([
      {
        content: 'Plan: Starter\nPrice: 9 €\nSupport: email\n\nPlan: Pro\nPrice: 29 €\nSupport: phone; chat',
        heading: 'Price list',
      },
    ])
    expect(await chunks(docx)).toEqual([
      { content: 'Frames are covered for five years', heading: 'Warranty terms\nWarranty' },
      { content: 'Send the receipt and the serial number.', heading: 'Warranty terms\nWarranty › Claims' },
    ])
    expect(await chunks(pptx)).toEqual([
      { content: 'Starter is 9 € a month.', heading: 'Sales deck\nPricing' },
      { content: 'A kickoff call in the first week.', heading: 'Sales deck\nOnboarding' },
    ])
    // Searchable by what a customer would ask, header names and section titles included.
    const { data: hits, error } = await admin.rpc('search_knowledge', {
      tenant_id: TENANT,
      query_text: 'how much is the Pro plan price',
      match_count: 3,
    })
    expect(error).toBeNull()
    expect((hits as { content: string }[])[0]!.content).toContain('Plan: Pro')
  })

  test('a malformed CSV or a damaged Word file fails with the reason and stores no passage', async () => {
    const csv = await upload('Broken export', 'csv', 'Name,Note\nAna,"never closed\n')
    const docx = await upload('Not really Word', 'docx', Buffer.from('PK\u0003\u0004 damaged').toString('base64'))
    expect(await settled(csv)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^CSV not readable: Quote Not Closed/),
      chunk_count: 0,
    })
    expect(await settled(docx)).toMatchObject({
      status: 'failed',
      error: 'Word document not readable: the file is not a .docx file (its zip structure is damaged)',
      chunk_count: 0,
    })
    expect(await sql(`select 1 from app.knowledge_chunks where source_id in ($1, $2)`, [csv, docx])).toEqual([])
    // What the database can see for itself is refused before anything is stored.
    const { error } = await admin.rpc('create_knowledge_source', {
      tenant_id: TENANT,
      title: 'Old Word file',
      kind: 'docx',
      content: Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).toString('base64'),
    })
    expect(error?.message).toBe(
      'the file is not a .docx file (a password-protected or old .doc/.ppt file cannot be read)',
    )
    expect(await sql(`select 1 from app.knowledge_sources where title = 'Old Word file'`)).toEqual([])
  })

  test('a scanned PDF and a URL on a loopback address fail with a reason the admin can act on', async () => {
    const scanned = await upload('Scanned contract', 'pdf', SCANNED_PDF.toString('base64'))
    expect(await settled(scanned)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^PDF not readable: the PDF has no text layer, only images .*OCR/),
      chunk_count: 0,
    })
    const loopback = await upload('Intranet', 'url', null, 'http://127.0.0.1/wiki')
    expect(await settled(loopback)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^the URL was refused: .*127\.0\.0\.1/),
    })
  })

  test('the agent answers a natural-language question from the PDF passage (hybrid search)', async () => {
    const { data, error } = await service.rpc('ingest_message', {
      connection_id: WEB_CHAT,
      external_id: `kn-${Date.now()}`,
      thread_key: 'knowledge-visitor',
      external_user_id: 'knowledge-visitor',
      text: 'What should I include with a warranty claim?',
    })
    expect(error).toBeNull()
    const conversationId = (data as { conversation_id: string }).conversation_id
    await until(
      async () =>
        (
          await sql(
            `select 1 from app.messages where conversation_id = $1 and direction = 'out' and delivery_status = 'sent'`,
            [conversationId],
          )
        )[0],
      'the reply',
    )
    const prompt = fake.chatRequests().find((b) => JSON.stringify(b.messages).includes('include with a warranty claim'))
    const system = prompt.messages[0].content as string
    expect(system).toMatch(
      /<passage id="1" title="Returns policy \(PDF\)">[\s\S]*Warranty claims are handled by the support team/,
    )
  })
})

describe('URL sources through the worker code with an injected resolver', () => {
  function inProcessWorker() {
    const config = readWorkerConfig({
      SUPABASE_URL: stack.url,
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: stack.keys.secretKey }),
      KONSTRUCT_WORKER_SECRET: DEV_WORKER_SECRET,
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test-platform',
      OPENAI_EMBEDDINGS_MODEL: 'text-embedding-3-small',
      WORKER_MAX_ATTEMPTS: '1',
    })
    const addresses: Record<string, string[]> = {
      'docs.partner.example': ['93.184.216.34'],
      'intranet.partner.example': ['93.184.216.35', '10.0.0.7'],
    }
    const fetched: string[] = []
    const worker = createAgentWorker({
      store: createAgentStore(createApi({ url: stack.url, key: stack.keys.secretKey })),
      config,
      deliveries: {} as ReplyDeliveries,
      log: () => {},
      resolveHost: async (host) => {
        if (!addresses[host]) throw new Error(`no such host ${host}`)
        return addresses[host]!
      },
      // The "public" site is served locally; everything else (the fake OpenAI) passes through.
      fetch: async (input, init) => {
        const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
        if (url.hostname.endsWith('partner.example')) {
          fetched.push(url.href)
          return fetch(`${siteUrl}${url.pathname}`, init)
        }
        return fetch(input, init)
      },
    })
    return { worker, fetched }
  }

  test('HTML, PDF, CSV and Word pages are fetched and chunked; private targets, redirects to them and 404s fail', async () => {
    await setWakeUps(false)
    try {
      // Let a worker still running from an earlier wake-up finish, so it cannot claim these jobs.
      await until(
        async () =>
          (await sql(`select 1 from pgmq.q_agent_jobs union all select 1 from pgmq.q_knowledge_jobs`)).length === 0,
        'empty queues',
      )
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const faq = await upload('Partner FAQ', 'url', null, 'https://docs.partner.example/faq.html')
      const manual = await upload('Partner manual', 'url', null, 'https://docs.partner.example/manual.pdf')
      const prices = await upload('Partner prices', 'url', null, 'https://docs.partner.example/prices.csv')
      const terms = await upload('Partner terms', 'url', null, 'https://docs.partner.example/terms.docx')
      const moved = await upload('Moved page', 'url', null, 'https://docs.partner.example/moved')
      const intranet = await upload('Intranet page', 'url', null, 'https://intranet.partner.example/faq.html')
      const gone = await upload('Gone page', 'url', null, 'https://docs.partner.example/gone')
      const { worker, fetched } = inProcessWorker()
      const report = await worker.runOnce(['knowledge_jobs'])
      expect(report.failed).toEqual([])

      expect(await source(faq)).toMatchObject({ status: 'ready', chunk_count: 1, embedded: 1 })
      const [faqChunk] = await sql<{ content: string; heading: string }>(
        `select content, heading from app.knowledge_chunks where source_id = $1`,
        [faq],
      )
      expect(faqChunk).toEqual({
        content: 'Gift cards never expire & can be topped up in store.',
        heading: 'Partner FAQ',
      })
      expect(await source(manual)).toMatchObject({ status: 'ready', error: null })
      // A CSV or a Word file served by a site is read like an upload of it.
      expect(
        await sql(`select content, heading from app.knowledge_chunks where source_id in ($1, $2) order by content`, [
          prices,
          terms,
        ]),
      ).toEqual([
        { content: 'Invoices are due in 30 days.', heading: 'Partner terms\nPayment' },
        { content: 'Plan: Partner\nPrice: 19 EUR', heading: 'Partner prices' },
      ])
      expect(await source(moved)).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^the URL was refused: .*169\.254\.169\.254/),
      })
      expect(await source(intranet)).toMatchObject({
        status: 'failed',
        error: 'the URL was refused: intranet.partner.example resolves to a private address',
      })
      expect(await source(gone)).toMatchObject({ status: 'failed', error: 'the URL answered 404' })
      // The private name was never requested; the redirect was not followed.
      expect(fetched.some((u) => u.includes('intranet'))).toBe(false)
      expect(fetched.some((u) => u.includes('169.254'))).toBe(false)
    } finally {
      await setWakeUps(true)
    }
  })
})
