// A Slack mention answered end to end with Slack's native streaming: the real slack-events
// and agent-worker functions under Deno (the worker's Slack streaming goes through
// @slack/web-api there), the fake Slack offering chat.startStream/appendStream/stopStream.
// The answer's message opens in the thread while the model works, for the person who
// asked, and is closed with the recorded answer; no "Thinking…" placeholder is posted.
import { afterAll, beforeAll, expect, test } from 'vitest'
import {
  SLACK,
  SLACK_BOT,
  SLACK_TEAM,
  slackTs,
  startAgentScenario,
  until,
  type AgentScenario,
} from '../support/agent-scenario.ts'

let s: AgentScenario

beforeAll(async () => {
  s = await startAgentScenario({}, { slackStreaming: true })
}, 90_000)

afterAll(async () => {
  await s?.close()
})

test('a mention in a channel is answered as a stream in its thread', async () => {
  const rootTs = slackTs()
  const question = 'Do you ship to Norway?'
  const event = {
    type: 'app_mention',
    user: 'U0DANA',
    text: `<@${SLACK_BOT}> ${question}`,
    ts: rootTs,
    event_ts: rootTs,
    channel: 'C0STREAM',
  }
  expect((await s.postSlackEvent(event)).status).toBe(200)
  const conversationId = await s.conversationOf(SLACK, `C0STREAM:${rootTs}`)
  const [answer] = await until(async () => {
    const rows = await s.outbound(conversationId)
    return rows.length && rows[0]!.delivery_status === 'sent' ? rows : undefined
  }, 'the streamed answer')

  const starts = s.slack.calls('chat.startStream').filter((c) => (c.body as any).channel === 'C0STREAM')
  expect(starts).toHaveLength(1)
  expect(starts[0]!.body).toMatchObject({
    thread_ts: rootTs,
    recipient_user_id: 'U0DANA',
    recipient_team_id: SLACK_TEAM,
  })
  const inThread = s.slack.messages.filter((m) => m.channel === 'C0STREAM' && m.threadTs === rootTs)
  expect(inThread).toHaveLength(1)
  expect(inThread[0]!.text).toBe(`Fake reply to: ${question}`)
  expect(inThread[0]!.text).toBe(answer!.text)
  expect(inThread[0]!.stream?.state).toBe('stopped')
  expect(answer!.external_id).toBe(inThread[0]!.ts)
  // No placeholder, no edit: the stream was the only message.
  const posts = s.slack.calls('chat.postMessage').filter((c) => (c.body as any).channel === 'C0STREAM')
  expect(posts).toEqual([])
  expect(s.slack.calls('chat.appendStream').length).toBeGreaterThan(0)
  expect(s.slack.calls('chat.stopStream').filter((c) => (c.body as any).channel === 'C0STREAM')).toHaveLength(1)
})

test('a workspace that refuses streaming gets the placeholder, edited into the answer', async () => {
  const rootTs = slackTs()
  s.slack.failNext({ kind: 'slack_error', error: 'not_allowed' }, { method: 'chat.startStream' })
  const question = 'What are your opening hours?'
  const event = {
    type: 'app_mention',
    user: 'U0DANA',
    text: `<@${SLACK_BOT}> ${question}`,
    ts: rootTs,
    event_ts: rootTs,
    channel: 'C0REFUSED',
  }
  expect((await s.postSlackEvent(event)).status).toBe(200)
  const conversationId = await s.conversationOf(SLACK, `C0REFUSED:${rootTs}`)
  await until(async () => {
    const rows = await s.outbound(conversationId)
    return rows.length && rows[0]!.delivery_status === 'sent' ? rows : undefined
  }, 'the answer after the refusal')
  const inThread = s.slack.messages.filter((m) => m.channel === 'C0REFUSED' && m.threadTs === rootTs)
  expect(inThread.map((m) => m.history)).toEqual([['_Thinking…_', `Fake reply to: ${question}`]])
  expect(s.slack.calls('chat.appendStream').filter((c) => (c.body as any).channel === 'C0REFUSED')).toEqual([])
})
