// What the agent knows when it answers, end to end: a signed Slack mention goes through
// functions/slack-events, the queue and the real agent-worker, and the prompt the fake
// OpenAI recorded carries the agent's persona, the earlier messages of that Slack thread,
// what the agent remembers about the contact (saved through the service api) and the
// tenant's knowledge passage; the reply lands in the thread the user wrote in.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  AGENT,
  SLACK,
  SLACK_BOT,
  TENANT,
  slackTs,
  startAgentScenario,
  until,
  type AgentScenario,
} from '../support/agent-scenario.ts'

let s: AgentScenario

beforeAll(async () => {
  s = await startAgentScenario()
}, 90_000)

afterAll(async () => {
  await s?.close()
})

const mention = (text: string, ts: string, extra: Record<string, unknown> = {}) => ({
  type: 'app_mention',
  user: 'U0CAROL',
  text: `<@${SLACK_BOT}> ${text}`,
  ts,
  event_ts: ts,
  channel: 'C0PROMPT',
  ...extra,
})

describe('the prompt of a Slack mention', () => {
  test('uses the persona, the thread so far, a memory of the contact and a knowledge passage', async () => {
    const rootTs = slackTs()
    const first = 'Hi! I ordered the blue standing desk last week.'
    expect((await s.postSlackEvent(mention(first, rootTs))).status).toBe(200)
    const conversationId = await s.conversationOf(SLACK, `C0PROMPT:${rootTs}`)
    await until(
      async () => (await s.outbound(conversationId)).find((m) => m.delivery_status === 'sent'),
      'the answer to the first mention',
    )

    // Something the agent remembers about this person (as memory distillation would save it).
    const [{ contact_id: contactId }] = await s.sql<{ contact_id: string }>(
      `select contact_id from app.conversations where id = $1`,
      [conversationId],
    )
    const memory = 'Carol prefers answers in bullet points and is a long-time customer.'
    const saved = await s.service.rpc('save_memory', {
      tenant_id: TENANT,
      contact_id: contactId,
      agent_id: AGENT,
      content: memory,
    })
    expect(saved.error).toBeNull()

    // A reply in the same thread, mentioning the agent again.
    const question = 'Can I get my money back if the desk does not fit? How do refunds work?'
    const replyTs = slackTs()
    expect((await s.postSlackEvent(mention(question, replyTs, { thread_ts: rootTs }))).status).toBe(200)
    const answers = await until(async () => {
      const rows = await s.outbound(conversationId)
      return rows.filter((m) => m.delivery_status === 'sent').length === 2 ? rows : undefined
    }, 'the answer in the thread')
    expect(answers.map((m) => [m.author_kind, m.text])).toEqual([
      ['agent', `Fake reply to: ${first}`],
      ['agent', `Fake reply to: ${question}`],
    ])

    // The prompt of the second answer.
    const prompts = s.openai.chatRequests().filter((body) => JSON.stringify(body.messages).includes(question))
    expect(prompts).toHaveLength(1)
    const messages = prompts[0].messages as Array<{ role: string; content: string }>
    const system = messages[0]!
    expect(system.role).toBe('system')

    // Persona: the agent's name, role, tone and the employer's instructions, as stored.
    const [agent] = await s.sql<{ name: string; role: string; tone: string; instructions: string }>(
      `select name, role, tone, instructions from app.agents where id = $1`,
      [AGENT],
    )
    expect(system.content).toContain(`You are ${agent!.name}, ${agent!.role}.`)
    expect(system.content).toContain(`Tone: ${agent!.tone}.`)
    expect(system.content).toContain(agent!.instructions.trim().split('\n')[0]!)

    // Memory of the contact, wrapped as data.
    expect(system.content).toMatch(
      new RegExp(`<contact_memories>[^]*- ${memory.replace(/[.]/g, '\\.')}[^]*</contact_memories>`),
    )
    // A knowledge passage found for the question (the seeded FAQ), wrapped as data.
    expect(system.content).toMatch(
      /<knowledge>[^]*<passage id="1"[^>]*>[^]*full refund within 30 days[^]*<\/knowledge>/,
    )

    // The thread so far, in order, then the message being answered.
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: first },
      { role: 'assistant', content: `Fake reply to: ${first}` },
      { role: 'user', content: question },
    ])

    // The reply went to the thread the user wrote in: the "thinking" placeholder there became it.
    const inThread = s.slack.messages.filter((m) => m.channel === 'C0PROMPT' && m.threadTs === rootTs)
    expect(inThread.map((m) => m.text)).toEqual([`Fake reply to: ${first}`, `Fake reply to: ${question}`])
    expect(inThread[1]!.history).toEqual(['_Thinking…_', `Fake reply to: ${question}`])
    expect(answers[1]!.external_id).toBe(inThread[1]!.ts)
    // Nothing was posted outside the thread.
    expect(s.slack.messages.filter((m) => m.channel === 'C0PROMPT' && m.threadTs !== rootTs)).toEqual([])
  })
})
