// End-to-end pipeline overhead with a zero-latency fake model, on a fresh in-memory local
// stack with the real agent-worker function (Deno) woken by pg_net: a web chat message is
// ingested through the service api (as a channel function does after verifying it), the
// worker builds the context, calls the model, records the reply and delivers it.
// Measured per message, one at a time: ingest → model request, model request → reply
// sent, and the whole. Then a burst in parallel conversations for throughput, after a
// warm-up burst as wide: the database pool opens its connections then, as a server that
// has been up for a while has, and each new connection's first calls (catalog caches,
// PL/pgSQL plans) cost it far more than later ones. The cold burst is reported too.
// Prints one JSON object. Usage: npm run bench:pipeline [-- --db native|postgres://…]
// (BENCH_MESSAGES, BENCH_BURST)
import { fileURLToPath } from 'node:url'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { chosenDatabase, startStack } from '../local/server.ts'
import { startFakeOpenAI } from '../tests/fakes/fake-openai.ts'
import { callsPerMessage, markCalls } from './calls.ts'
import { cpuPerMessage, markCpu } from './cpu.ts'
import { summarize } from './latency.ts'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 40)
const BURST = Number(process.env.BENCH_BURST ?? 600)
const WARMUP = 3
const WEB_CHAT = '30000000-0000-4000-8000-000000000001'

const fake = await startFakeOpenAI({ latencyMs: 0 })
const modelSeen = new Map<string, number>()
fake.respondWith((body) => {
  const last = [...(body?.messages ?? [])].reverse().find((m: { role: string }) => m.role === 'user')
  const marker = /\[bench-(\d+)\]/.exec(String(last?.content ?? ''))?.[0]
  if (marker && !modelSeen.has(marker)) modelSeen.set(marker, performance.now())
  return { text: 'Noted, thank you.' }
})
const stack = await startStack({
  root: fileURLToPath(new URL('..', import.meta.url)),
  port: 0,
  db: chosenDatabase(),
  functionEnv: {
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'sk-bench',
    WORKER_MEMORY_QUIET_SECONDS: '0',
  },
})
try {
  // A bench floods one tenant on purpose: lift the inbound rate limit it would trip.
  await stack.db.asOwner((tx) =>
    tx.query(
      `insert into app.settings (key, value)
       values ('inbound_rate_limit_per_tenant', 'off'), ('inbound_rate_limit_per_sender', 'off')
       on conflict (key) do update set value = excluded.value`,
    ),
  )
  const service = createClient(stack.url, stack.keys.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
    db: { schema: 'api' },
  })
  let n = 0
  async function ingest(thread: string) {
    const marker = `[bench-${++n}]`
    const t0 = performance.now()
    const { data, error } = await service.rpc('ingest_message', {
      connection_id: WEB_CHAT,
      external_id: `bench-${n}-${Date.now()}`,
      thread_key: thread,
      external_user_id: thread,
      text: `Do you ship to Portugal? ${marker}`,
    })
    if (error) throw new Error(`ingest failed: ${error.message}`)
    return { marker, t0, conversationId: (data as { conversation_id: string }).conversation_id }
  }
  const sentCount = async (conversationId: string) =>
    Number(
      (
        await stack.db.pg.query<{ n: number }>(
          `select count(*)::int as n from app.messages where conversation_id = $1 and direction = 'out' and delivery_status = 'sent'`,
          [conversationId],
        )
      ).rows[0]!.n,
    )

  const toModel: number[] = []
  const modelToSent: number[] = []
  const total: number[] = []
  for (let i = 0; i < MESSAGES + WARMUP; i++) {
    const { marker, t0, conversationId } = await ingest(`bench-seq-${i}`)
    const deadline = Date.now() + 30_000
    while ((await sentCount(conversationId)) < 1) {
      if (Date.now() > deadline) throw new Error('no reply within 30 s')
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const t2 = performance.now()
    const t1 = modelSeen.get(marker)!
    if (i >= WARMUP) {
      toModel.push(t1 - t0)
      modelToSent.push(t2 - t1)
      total.push(t2 - t0)
    }
  }

  /** BURST messages in as many new conversations at once; seconds until every reply is sent. */
  async function burst(label: string) {
    const started = performance.now()
    const sent = await Promise.all(Array.from({ length: BURST }, (_, i) => ingest(`bench-${label}-${i}`)))
    const deadline = Date.now() + 120_000
    let polls = 0
    for (;;) {
      polls++
      const done = await stack.db.pg.query<{ n: number }>(
        `select count(*)::int as n from app.messages where conversation_id = any($1::uuid[]) and direction = 'out' and delivery_status = 'sent'`,
        [sent.map((b) => b.conversationId)],
      )
      if (Number(done.rows[0]!.n) >= BURST) break
      if (Date.now() > deadline) throw new Error('the burst did not finish within 120 s')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const seconds = (performance.now() - started) / 1000
    // The jobs end (complete_job) after their replies are sent: count their calls too.
    for (const settle = Date.now() + 10_000; Date.now() < settle;) {
      polls++
      const left = await stack.db.pg.query<{ n: number }>('select count(*)::int as n from pgmq.q_agent_jobs')
      if (Number(left.rows[0]!.n) === 0) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return { seconds, polls }
  }
  const cold = await burst('cold')
  const beforeBurst = markCalls(stack)
  const cpuBefore = markCpu()
  const { seconds, polls } = await burst('warm')
  const cpu = cpuPerMessage(cpuBefore, BURST)
  const perMessage = callsPerMessage(stack, beforeBurst, BURST, polls)

  console.log(
    JSON.stringify(
      {
        bench: 'pipeline',
        database: await stack.db.engine(),
        node: process.version,
        model: 'fake OpenAI-compatible, 0 ms latency, streamed',
        messages: MESSAGES,
        ingest_to_model_request: summarize(toModel, 1),
        model_request_to_reply_sent: summarize(modelToSent, 1),
        ingest_to_reply_sent: summarize(total, 1),
        burst: {
          messages: BURST,
          conversations: BURST,
          seconds: Math.round(seconds * 100) / 100,
          messages_per_second: Math.round((BURST / seconds) * 10) / 10,
          // The same burst first, while the pool opened its connections (not a goal).
          cold_messages_per_second: Math.round((BURST / cold.seconds) * 10) / 10,
          // Ingest, wake-ups, the worker's calls and the delivery, per message (the bench's own polling excluded).
          per_message: perMessage,
          // Milliseconds of CPU per message by program, the bench's own polling included (Linux).
          cpu_ms_per_message: cpu,
        },
        goals: {
          messages_per_second_at_least_100: {
            value: Math.round((BURST / seconds) * 10) / 10,
            met: BURST / seconds >= 100,
          },
        },
      },
      null,
      2,
    ),
  )
} finally {
  await stack.close()
  await fake.close()
}
