// Several quick messages get one answer — but never no answer. The worker skips a reply job
// ('superseded') only when a newer message of the conversation has a reply job of its own
// (app.reply_jobs, written by ingest). A newer message that ingest held back (here: over the
// per-sender inbound rate limit, which gets the polite notice instead) supersedes nothing,
// so the newest admitted message is answered, exactly once.
//
// What the model sees: the conversation up to its newest contact message, held-back messages
// included (they are stored messages: what the person said); the rate-limit notice stored
// after it is not part of the prompt.
//
// The worker is asleep (no Vault konstruct_functions_url: neither pg_net nor the cron safety net can wake it)
// while the messages arrive; the test wakes it by invoking functions/agent-worker itself.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TENANT, startAgentScenario, until, type AgentScenario } from '../support/agent-scenario.ts'

const NOTICE = "We're receiving a lot of messages right now"
// Long windows, so a test does not straddle one (see waitForRoomInWindow).
const WINDOW_SECONDS = 3600

let s: AgentScenario

beforeAll(async () => {
  s = await startAgentScenario()
  await s.sql(
    `insert into app.settings (key, value) values
       ('inbound_rate_limit_per_sender:' || $1, '2'), ('inbound_rate_limit_window_seconds:' || $1, $2)
     on conflict (key) do update set value = excluded.value`,
    [TENANT, String(WINDOW_SECONDS)],
  )
  await s.setWakeUps(false)
}, 90_000)

afterAll(async () => {
  await s?.close()
})

/** The windows are fixed: start a test well inside one so every message lands in it. */
async function waitForRoomInWindow(seconds: number) {
  const left = WINDOW_SECONDS - ((Date.now() / 1000) % WINDOW_SECONDS)
  if (left < seconds) await new Promise((resolve) => setTimeout(resolve, (left + 1) * 1000))
}

interface Inbound {
  id: string
  conversation_id: string
  text: string
}

/** Posts the texts through the WhatsApp webhook, one after the other, and returns the stored messages. */
async function sendAll(from: string, texts: string[]): Promise<Inbound[]> {
  for (const text of texts) expect((await s.postWhatsAppText(from, text, 'Rita')).status).toBe(200)
  return until(async () => {
    const rows = await s.sql<Inbound>(
      `select id, conversation_id, text from app.messages where direction = 'in' and text = any($1) order by seq`,
      [texts],
    )
    return rows.length === texts.length ? rows : undefined
  }, 'the inbound messages to be stored')
}

const replyJobsOf = async (conversationId: string) =>
  (
    await s.sql<{ message_id: string }>(
      `select message ->> 'message_id' as message_id from pgmq.q_agent_jobs
       where message ->> 'kind' = 'reply' and message ->> 'conversation_id' = $1 order by msg_id`,
      [conversationId],
    )
  ).map((r) => r.message_id)

const promptsOf = (marker: string) =>
  s.openai.chatRequests().filter((body) => JSON.stringify(body.messages).includes(marker))

const sentTo = (to: string, text: string) =>
  s.whatsapp.sent.filter((m) => m.to === to && JSON.stringify(m.body).includes(text))

async function wakeWorker() {
  const { data, error } = await s.service.functions.invoke('agent-worker', { body: {} })
  expect(error).toBeNull()
  return data as { completed: Array<Record<string, unknown>>; failed: Array<Record<string, unknown>> }
}

/** Wakes the worker until no job of the conversation is left, collecting what it reported. */
async function drain(conversationId: string) {
  const completed: Array<Record<string, unknown>> = []
  await until(async () => {
    const report = await wakeWorker()
    expect(report.failed).toEqual([])
    completed.push(...report.completed)
    const left = await s.sql(`select 1 from pgmq.q_agent_jobs where message ->> 'conversation_id' = $1`, [
      conversationId,
    ])
    return left.length === 0
  }, 'the conversation jobs to be done')
  return completed
}

describe('one answer per burst, never none', () => {
  test('a newer message held back by the rate limit does not silence the admitted one', async () => {
    await waitForRoomInWindow(30)
    const customer = '4915100004401'
    const [first, second, third] = await sendAll(customer, [
      'Do you ship to Austria? [ra-1]',
      'And to Switzerland? [ra-2]',
      'Hello??? [ra-3]',
    ])
    const conversationId = first!.conversation_id
    expect([second!.conversation_id, third!.conversation_id]).toEqual([conversationId, conversationId])

    // Ingest admitted the first two (a reply job each) and held the third back with the notice.
    expect(await replyJobsOf(conversationId)).toEqual([first!.id, second!.id])
    expect(
      (
        await s.sql<{ message_id: string }>(
          `select message_id from app.reply_jobs where message_id = any($1) order by queued_at, job_id`,
          [[first!.id, second!.id, third!.id]],
        )
      ).map((r) => r.message_id),
    ).toEqual([first!.id, second!.id])
    const notices = (await s.outbound(conversationId)).filter((m) => m.metadata.mode === 'rate_limit')
    expect(notices).toHaveLength(1)
    expect(notices[0]!.metadata.in_reply_to).toBe(third!.id)

    const completed = await drain(conversationId)
    const replyOutcomes = completed.filter((c) => c.kind === 'reply').map((c) => c.outcome)
    expect(replyOutcomes).toHaveLength(2)
    expect(replyOutcomes).toContain('superseded')
    expect(replyOutcomes.filter((o) => typeof o === 'string' && o.startsWith('model:'))).toHaveLength(1)

    // One model call for the conversation. Its prompt is the conversation up to the newest
    // contact message: both admitted messages and the held-back one (last), never the notice.
    const prompts = promptsOf('[ra-2]')
    expect(prompts).toHaveLength(1)
    const messages = prompts[0]!.messages as Array<{ role: string; content: string }>
    const said = JSON.stringify(messages)
    for (const marker of ['[ra-1]', '[ra-2]', '[ra-3]']) expect(said).toContain(marker)
    expect(said).not.toContain(NOTICE)
    expect(messages.at(-1)).toMatchObject({ role: 'user' })
    expect(messages.at(-1)!.content).toContain('[ra-3]')

    // The answer is to the admitted message, delivered once; the notice too.
    const rows = await until(async () => {
      const out = await s.outbound(conversationId)
      return out.length === 2 && out.every((m) => m.delivery_status === 'sent') ? out : undefined
    }, 'the answer and the notice to be sent')
    const answers = rows.filter((m) => m.author_kind === 'agent')
    expect(answers).toHaveLength(1)
    expect(answers[0]!.metadata.in_reply_to).toBe(second!.id)
    expect(rows.filter((m) => m.metadata.mode === 'rate_limit')).toHaveLength(1)
    expect(sentTo(customer, NOTICE)).toHaveLength(1)
    expect(s.whatsapp.sent.filter((m) => m.to === customer)).toHaveLength(2)

    // Waking the worker again changes nothing.
    await wakeWorker()
    expect(promptsOf('[ra-2]')).toHaveLength(1)
    expect(await s.outbound(conversationId)).toHaveLength(2)
    expect(s.whatsapp.sent.filter((m) => m.to === customer)).toHaveLength(2)
  })

  test('two admitted messages in a row still get one answer, to the newest', async () => {
    await waitForRoomInWindow(30)
    const customer = '4915100004402'
    const [first, second] = await sendAll(customer, ['Are you open today? [co-1]', 'Until when? [co-2]'])
    const conversationId = first!.conversation_id
    expect(await replyJobsOf(conversationId)).toEqual([first!.id, second!.id])

    const completed = await drain(conversationId)
    const outcomes = new Map(
      completed.filter((c) => c.kind === 'reply').map((c) => [c.job_id as number, c.outcome as string]),
    )
    expect([...outcomes.values()].sort()).toEqual(['model:sent', 'superseded'])

    expect(promptsOf('[co-1]')).toHaveLength(1)
    const rows = await until(async () => {
      const out = await s.outbound(conversationId)
      return out.length === 1 && out[0]!.delivery_status === 'sent' ? out : undefined
    }, 'the one answer to be sent')
    expect(rows[0]).toMatchObject({ author_kind: 'agent' })
    expect(rows[0]!.metadata.in_reply_to).toBe(second!.id)
    expect(s.whatsapp.sent.filter((m) => m.to === customer)).toHaveLength(1)
    expect(
      await s.sql(`select 1 from app.messages where conversation_id = $1 and metadata ->> 'mode' = 'rate_limit'`, [
        conversationId,
      ]),
    ).toEqual([])
  })
})
