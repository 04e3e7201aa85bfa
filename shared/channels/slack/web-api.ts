// A minimal Slack Web API client over fetch: the methods Konstruct calls, the streaming
// ones (chat.startStream / appendStream / stopStream) typed with @slack/web-api's own
// argument types. That package's client itself is not loaded: @slack/web-api 8.2.0 reads
// os.release() when it is imported (its User-Agent), which Deno refuses without
// --allow-sys, so an edge function importing it does not start
// (tests/integration/slack-web-api-deno.test.ts shows it).
// Slack answers 429 with Retry-After when a method's rate tier is exceeded; the request
// was not processed, so waiting and sending it again cannot post twice. Anything else
// (5xx, network errors) is ambiguous for chat.postMessage and is surfaced, not retried
// here: the worker's job retry and the stored reply record decide what happens next.
import type { ChatAppendStreamArguments, ChatStartStreamArguments, ChatStopStreamArguments } from '@slack/web-api'
import { isRecord } from '../payload-fields.ts'

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api'

export type Sleep = (ms: number) => Promise<void>
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Slack answered `{ ok: false, error }`, e.g. channel_not_found, not_in_channel, invalid_auth. */
export class SlackApiError extends Error {
  override readonly name = 'SlackApiError'
  constructor(
    readonly method: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(`Slack ${method} failed: ${code}`)
  }
  /** The token no longer works: the connection should be disabled, not retried. */
  get isAuthError(): boolean {
    return ['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive'].includes(this.code)
  }
}

/** Still rate limited after the allowed retries, or asked to wait longer than we will. */
export class SlackRateLimitedError extends Error {
  override readonly name = 'SlackRateLimitedError'
  constructor(
    readonly method: string,
    readonly retryAfterSeconds: number,
  ) {
    super(`Slack ${method} rate limited; retry after ${retryAfterSeconds}s`)
  }
}

/** A non-2xx answer that is not a rate limit (Slack outage, proxy error). Retry later. */
export class SlackHttpError extends Error {
  override readonly name = 'SlackHttpError'
  constructor(
    readonly method: string,
    readonly status: number,
  ) {
    super(`Slack ${method} answered HTTP ${status}`)
  }
}

export interface SlackWebClientOptions {
  /** Bot token (xoxb-…); not needed for oauth.v2.access. */
  token?: string
  /** SLACK_API_URL; the real service by default. */
  apiUrl?: string
  fetch?: typeof fetch
  sleep?: Sleep
  /** How many times a 429 is waited out before giving up. */
  maxRateLimitRetries?: number
  /** A longer Retry-After is not slept through in a request; it is thrown to the queue. */
  maxRetryAfterSeconds?: number
  timeoutMs?: number
}

export interface PostMessageInput {
  channel: string
  text: string
  threadTs?: string
  blocks?: unknown[]
  /** Replies to a thread can also be shown in the channel; off by default. */
  replyBroadcast?: boolean
  /** Link previews clutter answers; off unless asked. */
  unfurlLinks?: boolean
  metadata?: { event_type: string; event_payload: Record<string, unknown> }
}

export interface SlackInstallation {
  botToken: string
  botUserId: string
  appId: string
  teamId: string
  teamName: string | null
  enterpriseId: string | null
  isEnterpriseInstall: boolean
  scopes: string[]
  /** The Slack user who approved the install. */
  installerUserId: string | null
  /** Present only when token rotation is enabled for the app. */
  refreshToken: string | null
  expiresInSeconds: number | null
}

export interface OAuthAccessInput {
  clientId: string
  clientSecret: string
  code: string
  redirectUri?: string
}

type SlackResponse = Record<string, unknown> & { ok: boolean; error?: string }

export function createSlackWebClient(options: SlackWebClientOptions = {}) {
  const apiUrl = (options.apiUrl ?? DEFAULT_SLACK_API_URL).replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const sleep = options.sleep ?? realSleep
  const maxRetries = options.maxRateLimitRetries ?? 3
  const maxRetryAfter = options.maxRetryAfterSeconds ?? 30
  const timeoutMs = options.timeoutMs ?? 10_000

  async function call(method: string, body: Record<string, unknown>, form = false): Promise<SlackResponse> {
    const headers: Record<string, string> = {}
    let payload: string
    if (form) {
      // oauth.v2.access takes form fields, not JSON.
      headers['content-type'] = 'application/x-www-form-urlencoded'
      payload = new URLSearchParams(
        Object.entries(body).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
      ).toString()
    } else {
      if (!options.token) throw new Error(`Slack ${method} needs a bot token`)
      headers['content-type'] = 'application/json; charset=utf-8'
      headers['authorization'] = `Bearer ${options.token}`
      payload = JSON.stringify(body)
    }

    for (let attempt = 0; ; attempt++) {
      const response = await doFetch(`${apiUrl}/${method}`, {
        method: 'POST',
        headers,
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      })
      const data = await readJson(response)
      const rateLimited = response.status === 429 || data?.error === 'ratelimited'
      if (rateLimited) {
        const retryAfter = parseRetryAfter(response.headers.get('retry-after'))
        if (attempt >= maxRetries || retryAfter > maxRetryAfter) throw new SlackRateLimitedError(method, retryAfter)
        await sleep(retryAfter * 1000)
        continue
      }
      if (!response.ok) throw new SlackHttpError(method, response.status)
      if (!data) throw new SlackHttpError(method, response.status)
      if (!data.ok) throw new SlackApiError(method, data.error ?? 'unknown_error', response.status)
      return data
    }
  }

  return {
    /** Posts a message (in a thread when threadTs is given) and returns its ts. */
    async postMessage(input: PostMessageInput): Promise<{ channel: string; ts: string }> {
      const data = await call('chat.postMessage', {
        channel: input.channel,
        text: input.text,
        thread_ts: input.threadTs,
        blocks: input.blocks,
        reply_broadcast: input.replyBroadcast,
        unfurl_links: input.unfurlLinks ?? false,
        unfurl_media: input.unfurlLinks ?? false,
        metadata: input.metadata,
      })
      return { channel: String(data['channel'] ?? input.channel), ts: requireString(data, 'ts', 'chat.postMessage') }
    },

    /** Replaces a message's text in place (progressive answers, resolved buttons). */
    async updateMessage(input: { channel: string; ts: string; text: string; blocks?: unknown[] }) {
      const data = await call('chat.update', input)
      return { channel: String(data['channel'] ?? input.channel), ts: String(data['ts'] ?? input.ts) }
    },

    /** Deletes a message the bot posted (a "thinking" placeholder no answer will replace). */
    async deleteMessage(input: { channel: string; ts: string }): Promise<void> {
      await call('chat.delete', { channel: input.channel, ts: input.ts })
    },

    /** The "is thinking…" line under an assistant thread; an empty status clears it. */
    async setAssistantStatus(input: { channelId: string; threadTs: string; status: string }): Promise<void> {
      await call('assistant.threads.setStatus', {
        channel_id: input.channelId,
        thread_ts: input.threadTs,
        status: input.status,
      })
    },

    /** Opens a streamed answer in a thread (Slack's native streaming); returns its ts. */
    async startStream(input: Omit<ChatStartStreamArguments, 'token'>): Promise<{ channel: string; ts: string }> {
      const data = await call('chat.startStream', { ...input })
      return { channel: String(data['channel'] ?? input.channel), ts: requireString(data, 'ts', 'chat.startStream') }
    },

    /** Adds Markdown to the end of a streamed answer. */
    async appendStream(input: Omit<ChatAppendStreamArguments, 'token'>): Promise<void> {
      await call('chat.appendStream', { ...input })
    },

    /** Closes a streamed answer, with blocks (buttons) at its end. */
    async stopStream(input: Omit<ChatStopStreamArguments, 'token'>): Promise<void> {
      await call('chat.stopStream', { ...input })
    },

    /** Opens (or finds) a DM with the given users and returns its channel id. */
    async openConversation(input: { users: string[] }): Promise<{ channelId: string }> {
      const data = await call('conversations.open', { users: input.users.join(',') })
      const channel = data['channel']
      const id =
        typeof channel === 'object' && channel !== null ? (channel as Record<string, unknown>)['id'] : undefined
      if (typeof id !== 'string') throw new SlackApiError('conversations.open', 'invalid_response', 200)
      return { channelId: id }
    },

    /** Exchanges an OAuth code for the workspace's bot token. */
    async oauthV2Access(input: OAuthAccessInput): Promise<SlackInstallation> {
      const data = await call(
        'oauth.v2.access',
        {
          client_id: input.clientId,
          client_secret: input.clientSecret,
          code: input.code,
          redirect_uri: input.redirectUri,
        },
        true,
      )
      return toInstallation(data)
    },
  }
}

export type SlackWebClient = ReturnType<typeof createSlackWebClient>

function toInstallation(data: SlackResponse): SlackInstallation {
  const team = asRecord(data['team'])
  const enterprise = asRecord(data['enterprise'])
  const authedUser = asRecord(data['authed_user'])
  const teamId = team?.['id']
  if (data['token_type'] !== 'bot' || typeof teamId !== 'string') {
    throw new SlackApiError('oauth.v2.access', 'invalid_response', 200)
  }
  return {
    botToken: requireString(data, 'access_token', 'oauth.v2.access'),
    botUserId: requireString(data, 'bot_user_id', 'oauth.v2.access'),
    appId: requireString(data, 'app_id', 'oauth.v2.access'),
    teamId,
    teamName: typeof team?.['name'] === 'string' ? team['name'] : null,
    enterpriseId: typeof enterprise?.['id'] === 'string' ? enterprise['id'] : null,
    isEnterpriseInstall: data['is_enterprise_install'] === true,
    scopes: typeof data['scope'] === 'string' ? data['scope'].split(',').filter(Boolean) : [],
    installerUserId: typeof authedUser?.['id'] === 'string' ? authedUser['id'] : null,
    refreshToken: typeof data['refresh_token'] === 'string' ? data['refresh_token'] : null,
    expiresInSeconds: typeof data['expires_in'] === 'number' ? data['expires_in'] : null,
  }
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return isRecord(value) ? value : null
}

function requireString(data: SlackResponse, key: string, method: string): string {
  const value = data[key]
  if (typeof value !== 'string' || !value) throw new SlackApiError(method, 'invalid_response', 200)
  return value
}

async function readJson(response: Response): Promise<SlackResponse | null> {
  try {
    const data: unknown = await response.json()
    return asRecord(data) && typeof (data as SlackResponse).ok === 'boolean' ? (data as SlackResponse) : null
  } catch {
    return null
  }
}

/** Retry-After in whole seconds; Slack sends seconds, an absent or odd value means 1. */
export function parseRetryAfter(value: string | null): number {
  const seconds = value === null ? NaN : Number(value.trim())
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds) : 1
}
