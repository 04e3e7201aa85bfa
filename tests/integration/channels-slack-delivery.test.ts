// Outbound Slack against the fake Slack, with delivery progress recorded in the database:
// the answer lands in the thread, replaces the thinking placeholder, waits out a 429 and is
// posted exactly once even when the worker delivers again.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { setWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { createApi, type Api } from '../../shared/api/client.ts'
import { rpcProgressStore } from '../../shared/channels/delivery/progress.ts'
import { deliverSlackReply, readSlackChannelContext, showSlackThinking } from '../../shared/channels/delivery/slack.ts'

const TENANT = '10000000-0000-4000-8000-000000000001'
const DEMO_SLACK = '30000000-0000-4000-8000-000000000002'

let stack: TestStack
let slack: FakeSlack
let rpc: Api
const sleeps: number[] = []

beforeAll(async () => {
  slack = await startFakeSlack()
  stack = await startTestStack()
  // These tests look at what the channel functions store and send; the agent worker (tested
  // on its own) is not woken, so it cannot add replies or consume jobs underneath them.
  await setWakeUps(stack, false)
  rpc = createApi({ url: stack.url, key: stack.keys.secretKey })
})
afterAll(async () => {
  await stack?.close()
  await slack?.close()
})

async function conversationWithReply(threadTs: string, text: string) {
  const ingested = await rpc<{ message_id: string; conversation_id: string }>('ingest_message', {
    connection_id: DEMO_SLACK,
    external_id: `C0SUPPORT:${threadTs}`,
    thread_key: `C0SUPPORT:${threadTs}`,
    external_user_id: 'U0ALICE',
    text: 'question',
    channel_context: {
      slack_team_id: 'T0KONSTRUCT',
      slack_channel_id: 'C0SUPPORT',
      slack_channel_type: 'channel',
      slack_thread_ts: threadTs,
    },
  })
  const reply = await rpc<{ message_id: string }>('record_reply', {
    tenant_id: TENANT,
    conversation_id: ingested.conversation_id,
    text,
    idempotency_key: `slack-delivery:${threadTs}`,
  })
  const delivery = await rpc<{ channel_context: unknown }>('get_outbound_delivery', {
    tenant_id: TENANT,
    message_id: reply.message_id,
  })
  return {
    inboundId: ingested.message_id,
    replyId: reply.message_id,
    thread: readSlackChannelContext(delivery.channel_context)!,
  }
}

const config = () => ({
  token: 'xoxb-konstruct-placeholder',
  apiUrl: slack.url,
  sleep: async (ms: number) => void sleeps.push(ms),
})

test('thinking placeholder, then the answer in place and in the thread, mrkdwn, split, exactly once', async () => {
  const { inboundId, replyId, thread } = await conversationWithReply('1800000100.000001', 'x')
  expect(thread).toEqual({ channelId: 'C0SUPPORT', threadTs: '1800000100.000001' })
  const inboundProgress = rpcProgressStore(rpc, TENANT, inboundId)
  const placeholder = await showSlackThinking({ slack: config(), thread, progress: inboundProgress })
  // A retried job reuses the placeholder instead of posting another.
  expect(await showSlackThinking({ slack: config(), thread, progress: inboundProgress })).toBe(placeholder)

  const long = `**Opening hours** are 9-17.\n\n${'More detail. '.repeat(400)}`
  const input = {
    slack: config(),
    thread,
    message: { id: replyId, text: long },
    progress: rpcProgressStore(rpc, TENANT, replyId),
    placeholderTs: placeholder,
  }
  const first = await deliverSlackReply(input)
  expect(first).toMatchObject({ outcome: 'sent', externalId: placeholder, resumed: false })
  const parts = (first as { parts: number }).parts
  expect(parts).toBeGreaterThan(1)
  expect(await deliverSlackReply(input)).toMatchObject({ outcome: 'sent', resumed: true })

  const inThread = slack.messages.filter((m) => m.channel === 'C0SUPPORT' && m.threadTs === '1800000100.000001')
  expect(inThread).toHaveLength(parts) // the placeholder plus parts - 1, nothing twice
  expect(inThread[0]!.history[0]).toBe('_Thinking…_')
  expect(inThread[0]!.text.startsWith('*Opening hours* are 9-17.')).toBe(true)
  expect(inThread.every((m) => m.text.length <= 3000)).toBe(true)
})

test('a 429 is waited out (Retry-After) and the reply is then posted exactly once', async () => {
  const { replyId, thread } = await conversationWithReply('1800000200.000001', 'Done, your room is booked.')
  slack.failNext({ kind: 'http_429', retryAfter: 2 }, { method: 'chat.postMessage' })
  sleeps.length = 0
  const outcome = await deliverSlackReply({
    slack: config(),
    thread,
    message: { id: replyId, text: 'Done, your room is booked.' },
    progress: rpcProgressStore(rpc, TENANT, replyId),
  })
  expect(outcome).toMatchObject({ outcome: 'sent', parts: 1 })
  expect(sleeps).toEqual([2000])
  const posted = slack.messages.filter((m) => m.threadTs === '1800000200.000001')
  expect(posted.map((m) => m.text)).toEqual(['Done, your room is booked.'])
})

test('a long Retry-After becomes a retry outcome; a revoked token is undeliverable', async () => {
  const { replyId, thread } = await conversationWithReply('1800000300.000001', 'Later.')
  slack.failNext({ kind: 'http_429', retryAfter: 120 }, { method: 'chat.postMessage' })
  const progress = rpcProgressStore(rpc, TENANT, replyId)
  expect(
    await deliverSlackReply({ slack: config(), thread, message: { id: replyId, text: 'Later.' }, progress }),
  ).toEqual({
    outcome: 'retry',
    reason: expect.any(String),
    retryAfterMs: 120_000,
  })
  expect(slack.messages.filter((m) => m.threadTs === '1800000300.000001')).toHaveLength(0)
  slack.revokeToken('xoxb-konstruct-placeholder')
  expect(
    await deliverSlackReply({ slack: config(), thread, message: { id: replyId, text: 'Later.' }, progress }),
  ).toMatchObject({
    outcome: 'undeliverable',
  })
})
