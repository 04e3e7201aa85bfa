import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createSlackWebClient,
  parseRetryAfter,
  SlackApiError,
  SlackHttpError,
  SlackRateLimitedError,
} from '../../../shared/channels/slack/web-api.ts'
import { startFakeSlack, type FakeSlack } from '../../fakes/fake-slack.ts'

let slack: FakeSlack
let slept: number[]
const sleep = async (ms: number) => void slept.push(ms)

beforeAll(async () => {
  slack = await startFakeSlack({ clientId: 'cid', clientSecret: 'csecret', botToken: 'xoxb-installed' })
})
afterAll(() => slack.close())
beforeEach(() => {
  slept = []
})

const client = () => createSlackWebClient({ token: 'xoxb-test', apiUrl: slack.url, sleep })

describe('Slack Web API client', () => {
  it('posts in a thread and returns the ts, with the bot token and a JSON body', async () => {
    const { ts, channel } = await client().postMessage({ channel: 'C1', text: 'Hello *there*', threadTs: '1.0' })
    expect(channel).toBe('C1')
    expect(ts).toMatch(/^\d+\.\d{6}$/)
    const request = slack.calls('chat.postMessage').at(-1)!
    expect(request.headers['authorization']).toBe('Bearer xoxb-test')
    expect(request.headers['content-type']).toContain('application/json')
    expect(request.body).toMatchObject({ channel: 'C1', text: 'Hello *there*', thread_ts: '1.0', unfurl_links: false })
  })

  it('updates a message in place', async () => {
    const { ts } = await client().postMessage({ channel: 'C2', text: 'Thinking…' })
    await client().updateMessage({ channel: 'C2', ts, text: 'The answer' })
    const message = slack.messages.find((m) => m.ts === ts)!
    expect(message.history).toEqual(['Thinking…', 'The answer'])
  })

  it('sets the assistant thread status and opens DMs', async () => {
    await client().setAssistantStatus({ channelId: 'D1', threadTs: '1.0', status: 'is thinking…' })
    expect(slack.calls('assistant.threads.setStatus').at(-1)!.body).toEqual({
      channel_id: 'D1',
      thread_ts: '1.0',
      status: 'is thinking…',
    })
    expect(await client().openConversation({ users: ['U42'] })).toEqual({ channelId: 'DU42' })
  })

  it('waits out a 429 for Retry-After seconds and then delivers exactly once', async () => {
    const before = slack.messages.length
    slack.failNext({ kind: 'http_429', retryAfter: 2 }, { method: 'chat.postMessage', times: 2 })
    await client().postMessage({ channel: 'C3', text: 'after the storm' })
    expect(slept).toEqual([2000, 2000])
    expect(slack.messages.length).toBe(before + 1)
    expect(slack.messages.filter((m) => m.text === 'after the storm')).toHaveLength(1)
  })

  it('treats { ok: false, error: "ratelimited" } like a 429', async () => {
    slack.failNext({ kind: 'slack_error', error: 'ratelimited' }, { method: 'chat.update' })
    const { ts } = await client().postMessage({ channel: 'C4', text: 'a' })
    await client().updateMessage({ channel: 'C4', ts, text: 'b' })
    expect(slept).toEqual([1000])
  })

  it('gives up after the bounded retries with a typed error', async () => {
    // Three retries allowed: the first attempt and three more all answer 429.
    slack.failNext({ kind: 'http_429', retryAfter: 1 }, { method: 'chat.postMessage', times: 4 })
    const error = await client()
      .postMessage({ channel: 'C5', text: 'x' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SlackRateLimitedError)
    expect(error).toMatchObject({ method: 'chat.postMessage', retryAfterSeconds: 1 })
    expect(slept).toEqual([1000, 1000, 1000])
  })

  it('does not sleep through a Retry-After longer than allowed', async () => {
    slack.failNext({ kind: 'http_429', retryAfter: 120 }, { method: 'chat.postMessage' })
    const error = await client()
      .postMessage({ channel: 'C6', text: 'x' })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'SlackRateLimitedError', retryAfterSeconds: 120 })
    expect(slept).toEqual([])
  })

  it('surfaces { ok: false, error } as SlackApiError and does not retry it', async () => {
    slack.failNext({ kind: 'slack_error', error: 'channel_not_found' }, { method: 'chat.postMessage' })
    const count = slack.calls('chat.postMessage').length
    const error = await client()
      .postMessage({ channel: 'C7', text: 'x' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SlackApiError)
    expect(error).toMatchObject({ code: 'channel_not_found', method: 'chat.postMessage' })
    expect(slack.calls('chat.postMessage').length).toBe(count + 1)
  })

  it('recognises a revoked token as an auth error', async () => {
    slack.revokeToken('xoxb-revoked')
    const revoked = createSlackWebClient({ token: 'xoxb-revoked', apiUrl: slack.url, sleep })
    const error = (await revoked.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e)) as SlackApiError
    expect(error.code).toBe('invalid_auth')
    expect(error.isAuthError).toBe(true)
  })

  it('surfaces a 500 as SlackHttpError without retrying (a post may have happened)', async () => {
    slack.failNext({ kind: 'http_500' }, { method: 'chat.postMessage' })
    const count = slack.calls('chat.postMessage').length
    const error = await client()
      .postMessage({ channel: 'C8', text: 'x' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SlackHttpError)
    expect(error).toMatchObject({ status: 500 })
    expect(slack.calls('chat.postMessage').length).toBe(count + 1)
  })

  it('exchanges an OAuth code with form-encoded client credentials', async () => {
    const installation = await createSlackWebClient({ apiUrl: slack.url, sleep }).oauthV2Access({
      clientId: 'cid',
      clientSecret: 'csecret',
      code: 'fake-code-1',
      redirectUri: 'https://ref.supabase.co/functions/v1/slack-oauth',
    })
    expect(installation).toMatchObject({
      botToken: 'xoxb-installed',
      botUserId: 'U0FAKEBOT',
      appId: 'A0FAKEAPP',
      teamId: 'T0FAKETEAM',
      teamName: 'Fake Workspace',
      enterpriseId: null,
      installerUserId: 'U0INSTALLER',
    })
    expect(installation.scopes).toContain('assistant:write')
    const request = slack.calls('oauth.v2.access').at(-1)!
    expect(request.headers['content-type']).toContain('application/x-www-form-urlencoded')
    expect(request.headers['authorization']).toBeUndefined()
    expect(request.body).toMatchObject({ client_id: 'cid', client_secret: 'csecret', code: 'fake-code-1' })
  })

  it('rejects a wrong client secret with a typed error', async () => {
    const error = await createSlackWebClient({ apiUrl: slack.url })
      .oauthV2Access({ clientId: 'cid', clientSecret: 'wrong', code: 'c' })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'SlackApiError', code: 'bad_client_secret' })
  })

  it('refuses to call a bot method without a token', async () => {
    await expect(createSlackWebClient({ apiUrl: slack.url }).postMessage({ channel: 'C', text: 'x' })).rejects.toThrow(
      'needs a bot token',
    )
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and defaults to 1 for missing or odd values', () => {
    expect(parseRetryAfter('30')).toBe(30)
    expect(parseRetryAfter('1.2')).toBe(2)
    expect(parseRetryAfter(null)).toBe(1)
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')).toBe(1)
  })
})
