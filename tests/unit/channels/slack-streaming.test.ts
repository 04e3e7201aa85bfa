// Slack answers streamed with Slack's native streaming, against the fake Slack: while the
// agent works the answer's message is opened in the thread (chat.startStream, no
// "Thinking…" placeholder), the answer goes in as Markdown (chat.appendStream) and is
// closed with its buttons (chat.stopStream), once, even when the worker delivers again.
// Where streaming is refused or there is no thread, the placeholder and its edit remain.
import { afterEach, beforeAll, afterAll, describe, expect, test } from 'vitest'
import { startFakeSlack, type FakeSlack } from '../../fakes/fake-slack.ts'
import { memoryProgressStore } from '../../../shared/channels/delivery/progress.ts'
import { deliverSlackReply, showSlackThinking } from '../../../shared/channels/delivery/slack.ts'

let slack: FakeSlack
let plain: FakeSlack
let counter = 0

beforeAll(async () => {
  slack = await startFakeSlack({ streaming: true })
  plain = await startFakeSlack()
})
afterAll(async () => {
  await slack?.close()
  await plain?.close()
})
afterEach(() => {
  slack.requests.length = 0
  plain.requests.length = 0
})

const recipient = { userId: 'U0ALICE', teamId: 'T0KONSTRUCT' }
const config = (fake: FakeSlack) => ({ token: 'xoxb-konstruct-test', apiUrl: fake.url, sleep: async () => {} })
const nextThread = () => ({ channelId: 'C0SUPPORT', threadTs: `1700000000.${String(++counter).padStart(6, '0')}` })
const methods = (fake: FakeSlack) => fake.requests.map((r) => r.path.replace(/^\/api\//, ''))
const inThread = (fake: FakeSlack, threadTs: string) => fake.messages.filter((m) => m.threadTs === threadTs)

const ANSWER = 'Refunds take **3–5 days**. See [the policy](https://shop.example/refunds).'

/** What the worker does: show thinking for the inbound message, then deliver the reply. */
async function answer(fake: FakeSlack, thread: { channelId: string; threadTs: string | null }, text: string) {
  const inbound = memoryProgressStore()
  const reply = memoryProgressStore()
  await showSlackThinking({ slack: config(fake), thread, progress: inbound, recipient })
  const deliver = () =>
    deliverSlackReply({
      slack: config(fake),
      thread,
      message: { id: `reply-${counter}`, text },
      progress: reply,
      placeholderTs: (inbound.value['slack_placeholder_ts'] as string | undefined) ?? null,
      streamTs: (inbound.value['slack_stream_ts'] as string | undefined) ?? null,
      confirmation: { toolCallId: 'tc-1' },
    })
  return { inbound, reply, deliver }
}

describe('a Slack answer streamed natively', () => {
  test('arrives as start, append, stop: one message in the thread with the Markdown answer and its buttons', async () => {
    const thread = nextThread()
    const { inbound, deliver } = await answer(slack, thread, ANSWER)
    // While the model works: the stream is open in the thread, for the person who asked.
    expect(methods(slack)).toEqual(['chat.startStream'])
    const start = slack.calls('chat.startStream')[0]!
    expect(start.body).toMatchObject({
      channel: 'C0SUPPORT',
      thread_ts: thread.threadTs,
      recipient_user_id: 'U0ALICE',
      recipient_team_id: 'T0KONSTRUCT',
    })
    expect(start.headers['authorization']).toBe('Bearer xoxb-konstruct-test')
    expect(inbound.value['slack_stream_ts']).toEqual(expect.any(String))

    const outcome = await deliver()
    expect(outcome).toMatchObject({ outcome: 'sent', via: 'stream', externalId: inbound.value['slack_stream_ts'] })
    expect(methods(slack)).toEqual(['chat.startStream', 'chat.appendStream', 'chat.stopStream'])
    const messages = inThread(slack, thread.threadTs)
    expect(messages).toHaveLength(1)
    // The user sees the answer in standard Markdown, not Slack's mrkdwn dialect.
    expect(messages[0]!.text).toBe(ANSWER)
    expect(messages[0]!.stream?.state).toBe('stopped')
    expect(messages[0]!.blocks).toEqual([
      expect.objectContaining({ type: 'actions', block_id: 'konstruct_confirm_tc-1' }),
    ])
    expect(messages[0]!.metadata).toMatchObject({ event_type: 'konstruct_reply' })
    expect(slack.calls('chat.postMessage')).toHaveLength(0)
    expect(slack.calls('chat.update')).toHaveLength(0)

    // The worker delivers again (a retried job): nothing more reaches Slack.
    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'stream', resumed: true })
    expect(methods(slack)).toHaveLength(3)
  })

  test('a long answer is appended in pieces Slack accepts, and arrives whole', async () => {
    const thread = nextThread()
    const long = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}: ${'lorem ipsum '.repeat(80)}`).join('\n\n')
    expect(long.length).toBeGreaterThan(24_000)
    const { deliver } = await answer(slack, thread, long)
    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'stream' })
    const appends = slack.calls('chat.appendStream')
    expect(appends.length).toBe(Math.ceil(long.length / 12_000))
    for (const call of appends) expect(String((call.body as any).markdown_text).length).toBeLessThanOrEqual(12_000)
    expect(inThread(slack, thread.threadTs)[0]!.text).toBe(long)
  })

  test('a retry that cannot know what an earlier attempt appended closes the stream and rewrites it in place', async () => {
    const thread = nextThread()
    const { reply, deliver } = await answer(slack, thread, ANSWER)
    // The first attempt dies after an append Slack took but before it was recorded as done.
    slack.failNext({ kind: 'http_500' }, { method: 'chat.stopStream' })
    expect(await deliver()).toMatchObject({ outcome: 'retry' })
    expect(reply.value['slack_stream_appending']).toEqual(expect.any(String))

    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'text' })
    const messages = inThread(slack, thread.threadTs)
    expect(messages).toHaveLength(1)
    expect(messages[0]!.stream?.state).toBe('stopped')
    // Not the answer twice: the message was rewritten with it once.
    expect(messages[0]!.text).toBe('Refunds take *3–5 days*. See <https://shop.example/refunds|the policy>.')
  })

  test('a stream Slack closed meanwhile: the answer still lands, in place', async () => {
    const thread = nextThread()
    const { deliver } = await answer(slack, thread, ANSWER)
    slack.failNext({ kind: 'slack_error', error: 'message_not_in_streaming_state' }, { method: 'chat.appendStream' })
    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'text' })
    const messages = inThread(slack, thread.threadTs)
    expect(messages).toHaveLength(1)
    expect(messages[0]!.text).toContain('3–5 days')
  })
})

describe('where streaming is unavailable, the placeholder remains', () => {
  test('streaming refused (not_allowed): "Thinking…" placeholder, then edited into the answer', async () => {
    const thread = nextThread()
    slack.failNext({ kind: 'slack_error', error: 'not_allowed' }, { method: 'chat.startStream' })
    const { inbound, deliver } = await answer(slack, thread, ANSWER)
    expect(methods(slack)).toEqual(['chat.startStream', 'chat.postMessage'])
    expect(inbound.value['slack_placeholder_ts']).toEqual(expect.any(String))
    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'text' })
    expect(slack.calls('chat.appendStream')).toHaveLength(0)
    const messages = inThread(slack, thread.threadTs)
    expect(messages).toHaveLength(1)
    expect(messages[0]!.history).toEqual([
      '_Thinking…_',
      'Refunds take *3–5 days*. See <https://shop.example/refunds|the policy>.',
    ])
  })

  test('a Slack without the streaming methods (unknown_method): the placeholder', async () => {
    const thread = nextThread()
    const { deliver } = await answer(plain, thread, ANSWER)
    expect(methods(plain)).toEqual(['chat.startStream', 'chat.postMessage'])
    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'text' })
    expect(inThread(plain, thread.threadTs)[0]!.history[0]).toBe('_Thinking…_')
  })

  test('a DM answered top-level is no thread: no stream is tried', async () => {
    const dm = { channelId: 'D0ALICE', threadTs: null }
    const { deliver } = await answer(slack, dm, ANSWER)
    expect(methods(slack)).toEqual(['chat.postMessage'])
    expect(await deliver()).toMatchObject({ outcome: 'sent', via: 'text' })
    expect(slack.calls('chat.startStream')).toHaveLength(0)
  })

  test('a token Slack no longer accepts is not a reason to fall back: the delivery is undeliverable', async () => {
    const thread = nextThread()
    const { deliver } = await answer(slack, thread, ANSWER)
    slack.failNext({ kind: 'slack_error', error: 'invalid_auth' }, { method: 'chat.appendStream' })
    expect(await deliver()).toMatchObject({ outcome: 'undeliverable' })
    expect(slack.calls('chat.update')).toHaveLength(0)
  })
})
