// A fake Slack for tests: the Web API methods Konstruct calls under /api (point
// SLACK_API_URL at `url`), plus the OAuth authorize page under /oauth/v2/authorize that
// "approves" at once by redirecting back with a code. It records every request, keeps the
// messages posted (edits them on chat.update, removes them on chat.delete), and can fail on demand.
// With `streaming: true` it also serves Slack's native streaming (chat.startStream,
// chat.appendStream, chat.stopStream) with Slack's rules: a stream is a reply in a thread,
// names its recipient outside a DM, takes at most 12,000 characters of markdown_text per
// call, and takes no append once stopped. Without it those methods answer unknown_method,
// as a Slack that does not offer streaming to the app does.
import { createHmac } from 'node:crypto'
import { startRecordingServer, type FakeResponse, type RecordedRequest } from './recording-server.ts'

export type { RecordedRequest } from './recording-server.ts'

export type SlackFailure =
  /** HTTP 429 with Retry-After (seconds), as Slack does when a method's tier is exceeded. */
  | { kind: 'http_429'; retryAfter?: number }
  /** HTTP 200 with { ok: false, error } — e.g. 'ratelimited', 'channel_not_found', 'invalid_auth'. */
  | { kind: 'slack_error'; error: string }
  | { kind: 'http_500' }

export interface FakeSlackOptions {
  teamId?: string
  teamName?: string
  botUserId?: string
  botId?: string
  appId?: string
  /** The token oauth.v2.access hands out. */
  botToken?: string
  /** When set, oauth.v2.access checks them like Slack would. */
  clientId?: string
  clientSecret?: string
  /** Serve chat.startStream / appendStream / stopStream (off: they answer unknown_method). */
  streaming?: boolean
}

export interface FakeSlackProfile {
  handle: string
  realName: string
  displayName: string
  image: string
}

export interface PostedMessage {
  channel: string
  ts: string
  threadTs: string | null
  text: string
  blocks: unknown
  /** Every text the message had, first to last (chat.update and chat.appendStream append). */
  history: string[]
  /** A streamed message: open until chat.stopStream; its text is Markdown. */
  stream?: { state: 'open' | 'stopped'; recipientUserId: string | null; recipientTeamId: string | null }
  metadata?: unknown
}

export interface FakeSlack {
  /** Base URL for SLACK_API_URL (ends in /api). */
  url: string
  /** The server root (for the authorize URL: `${root}/oauth/v2/authorize`). */
  root: string
  requests: RecordedRequest[]
  messages: PostedMessage[]
  /** Requests to one Web API method, e.g. calls('chat.postMessage'). */
  calls(method: string): RecordedRequest[]
  failNext(failure: SlackFailure, options?: { times?: number; method?: string }): void
  /** Later calls with this token answer invalid_auth (an uninstalled app). */
  revokeToken(token: string): void
  /**
   * Keeps a file Slack serves at its url_private (GET with the bot token, like files.slack.com)
   * and returns the file object a message event carries for it.
   */
  addFile(file: { id: string; name: string; mimetype: string; bytes: Uint8Array }): Record<string, unknown>
  /** A workspace member users.info describes; anyone else is user_not_found. */
  addUser(id: string, profile: FakeSlackProfile): void
  waitForCalls(method: string, count: number, timeoutMs?: number): Promise<RecordedRequest[]>
  close(): Promise<void>
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const team = { id: options.teamId ?? 'T0FAKETEAM', name: options.teamName ?? 'Fake Workspace' }
  const botUserId = options.botUserId ?? 'U0FAKEBOT'
  const botId = options.botId ?? 'B0FAKEBOT'
  const appId = options.appId ?? 'A0FAKEAPP'
  const botToken = options.botToken ?? 'xoxb-fake-bot-token'
  const revoked = new Set<string>()
  const profiles = new Map<string, FakeSlackProfile>()
  const messages: PostedMessage[] = []
  let counter = 0
  let codes = 0
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++counter).padStart(6, '0')}`
  const methodOf = (request: RecordedRequest) => request.path.replace(/^\/api\//, '')

  const files = new Map<string, { mimetype: string; bytes: Uint8Array }>()
  const route = (request: RecordedRequest, failure: SlackFailure | null): FakeResponse => {
    if (request.method === 'GET' && request.path === '/oauth/v2/authorize') return authorize(request)
    if (request.method === 'GET' && request.path.startsWith('/files-pri/')) {
      const token = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '')?.[1]
      const file = files.get(request.path)
      // Like Slack: a request without a token that may read the file gets the sign-in page.
      if (!token || token !== botToken || revoked.has(token) || !file) {
        return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<html>Sign in</html>' }
      }
      return { status: 200, headers: { 'content-type': file.mimetype }, body: file.bytes }
    }
    if (!request.path.startsWith('/api/')) return { status: 404, body: { ok: false, error: 'unknown_method' } }
    if (failure?.kind === 'http_429') {
      return {
        status: 429,
        headers: { 'retry-after': String(failure.retryAfter ?? 1) },
        body: { ok: false, error: 'ratelimited' },
      }
    }
    if (failure?.kind === 'http_500') return { status: 500, body: 'Internal Server Error' }
    if (failure?.kind === 'slack_error') return ok200({ ok: false, error: failure.error })

    const method = methodOf(request)
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >
    if (method === 'oauth.v2.access') return oauthAccess(body)

    const token = bearer(request) ?? (typeof body['token'] === 'string' ? body['token'] : null)
    if (!token) return ok200({ ok: false, error: 'not_authed' })
    if (revoked.has(token) || !token.startsWith('xox')) return ok200({ ok: false, error: 'invalid_auth' })

    switch (method) {
      case 'chat.postMessage': {
        const channel = str(body['channel'])
        const text = str(body['text'])
        if (!channel) return ok200({ ok: false, error: 'channel_not_found' })
        if (!text && !body['blocks']) return ok200({ ok: false, error: 'no_text' })
        const ts = nextTs()
        const threadTs = str(body['thread_ts']) || null
        messages.push({ channel, ts, threadTs, text, blocks: body['blocks'] ?? null, history: [text] })
        return ok200({
          ok: true,
          channel,
          ts,
          message: {
            type: 'message',
            user: botUserId,
            bot_id: botId,
            app_id: appId,
            text,
            ts,
            ...(threadTs ? { thread_ts: threadTs } : {}),
          },
        })
      }
      case 'chat.update': {
        const message = messages.find((m) => m.channel === str(body['channel']) && m.ts === str(body['ts']))
        if (!message) return ok200({ ok: false, error: 'message_not_found' })
        // A stream is written by its own methods until it is stopped.
        if (message.stream?.state === 'open') return ok200({ ok: false, error: 'cant_update_message' })
        message.text = str(body['text'])
        message.blocks = body['blocks'] ?? message.blocks
        message.history.push(message.text)
        return ok200({ ok: true, channel: message.channel, ts: message.ts, text: message.text })
      }
      case 'chat.delete': {
        const index = messages.findIndex((m) => m.channel === str(body['channel']) && m.ts === str(body['ts']))
        if (index < 0) return ok200({ ok: false, error: 'message_not_found' })
        const [deleted] = messages.splice(index, 1)
        return ok200({ ok: true, channel: deleted!.channel, ts: deleted!.ts })
      }
      case 'chat.startStream': {
        if (!options.streaming) return ok200({ ok: false, error: 'unknown_method' })
        const channel = str(body['channel'])
        const threadTs = str(body['thread_ts'])
        const markdown = str(body['markdown_text'])
        if (!channel || !threadTs) return ok200({ ok: false, error: 'invalid_arguments' })
        const recipientUserId = str(body['recipient_user_id']) || null
        const recipientTeamId = str(body['recipient_team_id']) || null
        if (!channel.startsWith('D') && (!recipientUserId || !recipientTeamId)) {
          return ok200({ ok: false, error: 'invalid_arguments' })
        }
        if (markdown.length > STREAM_TEXT_LIMIT) return ok200({ ok: false, error: 'msg_too_long' })
        const ts = nextTs()
        messages.push({
          channel,
          ts,
          threadTs,
          text: markdown,
          blocks: null,
          history: [markdown],
          stream: { state: 'open', recipientUserId, recipientTeamId },
        })
        return ok200({ ok: true, channel, ts })
      }
      case 'chat.appendStream':
      case 'chat.stopStream': {
        if (!options.streaming) return ok200({ ok: false, error: 'unknown_method' })
        const message = messages.find((m) => m.channel === str(body['channel']) && m.ts === str(body['ts']))
        if (!message) return ok200({ ok: false, error: 'message_not_found' })
        if (message.stream?.state !== 'open') return ok200({ ok: false, error: 'message_not_in_streaming_state' })
        const markdown = str(body['markdown_text'])
        if (markdown.length > STREAM_TEXT_LIMIT) return ok200({ ok: false, error: 'msg_too_long' })
        if (method === 'chat.appendStream' && !markdown) return ok200({ ok: false, error: 'invalid_arguments' })
        if (markdown) {
          message.text += markdown
          message.history.push(message.text)
        }
        if (method === 'chat.stopStream') {
          message.stream.state = 'stopped'
          if (body['blocks'] !== undefined) message.blocks = jsonField(body['blocks'])
          if (body['metadata'] !== undefined) message.metadata = jsonField(body['metadata'])
        }
        return ok200({ ok: true, channel: message.channel, ts: message.ts })
      }
      case 'assistant.threads.setStatus':
        if (!str(body['channel_id']) || !str(body['thread_ts'])) return ok200({ ok: false, error: 'invalid_arguments' })
        return ok200({ ok: true })
      case 'conversations.open': {
        const users = str(body['users'])
        if (!users) return ok200({ ok: false, error: 'users_list_not_supplied' })
        return ok200({ ok: true, channel: { id: `D${users.replace(/[^A-Z0-9]/g, '').slice(0, 10)}` } })
      }
      case 'users.info': {
        // Read methods take form fields only, as Slack's do.
        if (!String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
          return ok200({ ok: false, error: 'invalid_form_data' })
        const user = str(body['user'])
        const profile = profiles.get(user)
        if (!profile) return ok200({ ok: false, error: 'user_not_found' })
        return ok200({
          ok: true,
          user: {
            id: user,
            team_id: team.id,
            name: profile.handle,
            real_name: profile.realName,
            profile: {
              real_name: profile.realName,
              display_name: profile.displayName,
              image_48: profile.image,
              image_72: profile.image,
            },
          },
        })
      }
      case 'auth.test':
        return ok200({ ok: true, team: team.name, team_id: team.id, user_id: botUserId, bot_id: botId })
      default:
        return ok200({ ok: false, error: 'unknown_method' })
    }
  }

  function oauthAccess(body: Record<string, unknown>): FakeResponse {
    if (!str(body['code'])) return ok200({ ok: false, error: 'invalid_code' })
    if (options.clientId && body['client_id'] !== options.clientId)
      return ok200({ ok: false, error: 'invalid_client_id' })
    if (options.clientSecret && body['client_secret'] !== options.clientSecret)
      return ok200({ ok: false, error: 'bad_client_secret' })
    return ok200({
      ok: true,
      access_token: botToken,
      token_type: 'bot',
      scope:
        'app_mentions:read,chat:write,files:read,im:history,im:read,im:write,channels:history,groups:history,users:read,assistant:write',
      bot_user_id: botUserId,
      app_id: appId,
      team,
      enterprise: null,
      authed_user: { id: 'U0INSTALLER' },
      is_enterprise_install: false,
    })
  }

  // Stands in for the user clicking "Allow" on Slack's consent page.
  function authorize(request: RecordedRequest): FakeResponse {
    const redirect = request.query['redirect_uri']
    if (!redirect) return { status: 400, body: 'redirect_uri required' }
    const target = new URL(redirect)
    target.searchParams.set('code', `fake-code-${++codes}`)
    if (request.query['state'] !== undefined) target.searchParams.set('state', request.query['state'])
    return { status: 302, headers: { location: target.toString() }, body: '' }
  }

  const server = await startRecordingServer<SlackFailure>(route)
  return {
    url: `${server.url}/api`,
    root: server.url,
    requests: server.requests,
    messages,
    calls: (method) => server.requests.filter((r) => methodOf(r) === method),
    failNext(failure, { times = 1, method } = {}) {
      server.arm(failure, times, (r) => r.path.startsWith('/api/') && (method === undefined || methodOf(r) === method))
    },
    revokeToken: (token) => void revoked.add(token),
    addUser: (id, profile) => void profiles.set(id, profile),
    addFile(file) {
      const path = `/files-pri/${team.id}-${file.id}/${encodeURIComponent(file.name)}`
      files.set(path, { mimetype: file.mimetype, bytes: file.bytes })
      return {
        id: file.id,
        name: file.name,
        title: file.name,
        mimetype: file.mimetype,
        filetype: file.name.split('.').pop() ?? '',
        size: file.bytes.byteLength,
        mode: 'hosted',
        is_external: false,
        url_private: `${server.url}${path}`,
        url_private_download: `${server.url}/files-pri/${team.id}-${file.id}/download/${encodeURIComponent(file.name)}`,
      }
    },
    waitForCalls: (method, count, timeoutMs) => server.waitForRequests(count, (r) => methodOf(r) === method, timeoutMs),
    close: () => server.close(),
  }
}

const STREAM_TEXT_LIMIT = 12_000

/** A structured argument: Slack's clients send it as JSON, or JSON inside a form field. */
function jsonField(value: unknown): unknown {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

function ok200(body: unknown): FakeResponse {
  return { status: 200, body }
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

function bearer(request: RecordedRequest): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '')
  return match ? match[1]! : null
}

/**
 * Signs a body the way Slack does (node:crypto, independent of the product's Web Crypto
 * code), returning the headers to send with it.
 */
export function signSlackRequest(
  signingSecret: string,
  body: string,
  timestampSeconds = Math.floor(Date.now() / 1000),
) {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestampSeconds}:${body}`).digest('hex')
  return {
    'x-slack-request-timestamp': String(timestampSeconds),
    'x-slack-signature': `v0=${signature}`,
  }
}

/** An Events API envelope as Slack sends it, around one inner event. */
export function slackEventEnvelope(
  event: Record<string, unknown>,
  options: { teamId?: string; botUserId?: string; eventId?: string } = {},
) {
  const teamId = options.teamId ?? 'T0FAKETEAM'
  return {
    token: 'deprecated-verification-token',
    team_id: teamId,
    api_app_id: 'A0FAKEAPP',
    event,
    type: 'event_callback',
    event_id: options.eventId ?? `Ev${Math.random().toString(36).slice(2, 12).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: teamId,
        user_id: options.botUserId ?? 'U0FAKEBOT',
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: '4-fake-context',
  }
}
