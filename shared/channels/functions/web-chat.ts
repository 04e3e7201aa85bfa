// The web-chat function: the public endpoint of the embeddable widget, keyed by the web
// chat connection's widget key. No Supabase session: the visitor is identified by a token
// this function mints.
//
//   GET  /web-chat/widget.js   the widget itself (one script tag, data-key="<widget key>")
//   POST /web-chat/session     {widget_key, token?} → a visitor token (new, or the given one
//                              if it is still valid for this widget), the Realtime topic,
//                              how to reach Realtime and the conversation status
//   POST /web-chat/messages    Bearer <visitor token>, {text, client_message_id?} → ingested,
//                              with the conversation status and what answer to expect
//   GET  /web-chat/messages    Bearer <visitor token>, ?after_seq= → the visitor's history and
//                              the conversation status
//
// The conversation status (null before the first message, then open, waiting_for_human,
// human or closed) tells the widget whether the agent answers (typing indicator) or a team
// member will; changes arrive live as status_changed {status} on the visitor's topic.
// POST /messages also says what api.ingest_message decided for this very message:
// agent_reply_expected (an agent reply job was queued: the widget shows "typing" only
// then), rate_limited (held back by the inbound rate limit: no answer, at most one notice
// per window, which arrives live) and notice_expected (a system notice, rate or plan limit,
// was recorded for it and arrives live). None of them true while the conversation is open
// means no answer is coming now (agent paused or inactive, agents paused by billing).
// A duplicate (a retried POST) expects nothing more: the first POST said what to expect.
//
// The visitor token is an HS256 JWT signed with the project's JWT secret, so Realtime
// accepts it: role anon (no membership and no api function: it can do nothing through
// PostgREST that the public cannot), audience konstruct-webchat, sub = the visitor id and
// topic = webchat:<visitor id>, the only private topic RLS on realtime.messages lets it read.
// Requests are rate limited per visitor and per tenant (token buckets, 429 + Retry-After);
// CORS is open to any origin (no cookies: the token travels in the Authorization header).
import { RateLimiter, mintVisitorToken, verifyVisitorToken, type VisitorClaims } from '../webchat/mod.ts'
import { readRawBody } from '../request-body.ts'
import { type Api, ApiError } from '../../api/client.ts'
import { projectFromEnv, serviceApi } from '../../api/project.ts'
import { type Env, numberEnv, optionalEnv, requireEnv } from '../../runtime/env.ts'
import { consoleLog, describeError, json, type Log, subPath } from '../../runtime/http.ts'
import { WEB_CHAT_WIDGET_JS } from './web-chat-widget.ts'

export interface WebChatConfig {
  /** The project's JWT secret (WEB_CHAT_JWT_SECRET, else SUPABASE_JWT_SECRET). */
  jwtSecret: string
  /** Public base URL of the project (Realtime lives under it). */
  publicUrl: string
  /** The anon key the widget's websocket presents as apikey (public by design). */
  anonKey: string
  rpc: Api
  /** Burst and sustained rate per visitor (messages and history reads). */
  visitorLimit?: { capacity: number; perMinute: number }
  /** Burst and sustained rate per tenant, all its visitors and sessions together. */
  tenantLimit?: { capacity: number; perMinute: number }
  tokenTtlSeconds?: number
  now?: () => Date
  log?: Log
}

export function webChatConfigFromEnv(env: Env): WebChatConfig {
  const jwtSecret = optionalEnv(env, 'WEB_CHAT_JWT_SECRET') ?? optionalEnv(env, 'SUPABASE_JWT_SECRET')
  if (!jwtSecret) throw new Error('WEB_CHAT_JWT_SECRET is not set')
  return {
    jwtSecret,
    publicUrl: optionalEnv(env, 'WEB_CHAT_PUBLIC_URL') ?? requireEnv(env, 'SUPABASE_URL'),
    anonKey: requireEnv(env, 'SUPABASE_ANON_KEY'),
    rpc: serviceApi(projectFromEnv(env)),
    visitorLimit: {
      capacity: numberEnv(env, 'WEB_CHAT_VISITOR_BURST', 8),
      perMinute: numberEnv(env, 'WEB_CHAT_VISITOR_PER_MINUTE', 20),
    },
    tenantLimit: {
      capacity: numberEnv(env, 'WEB_CHAT_TENANT_BURST', 120),
      perMinute: numberEnv(env, 'WEB_CHAT_TENANT_PER_MINUTE', 600),
    },
  }
}

export const WEB_CHAT_MAX_TEXT = 4000
const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_-]{8,64}$/
const VISITOR_ROLE = 'anon'

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, x-widget-key, x-client-info, apikey',
  'access-control-expose-headers': 'retry-after',
  'access-control-max-age': '86400',
}

/** What the widget needs of api.ingest_message's answer. */
interface IngestResult {
  message_id: string
  conversation_id: string
  duplicate: boolean
  conversation_status: string | null
  /** An agent reply job was queued for this message. */
  enqueued?: boolean
  /** Over the inbound rate limit: 'tenant' or 'sender', else null. */
  rate_limited?: string | null
  /** A system notice recorded for this message (rate or plan limit), delivered live. */
  notice_message_id?: string | null
}

interface WidgetConnection {
  connection_id: string
  tenant_id: string
  kind: string
  name: string
  status: string
  widget_key: string
  settings: Record<string, unknown> | null
}

export function createWebChatHandler(config: WebChatConfig): (req: Request) => Promise<Response> {
  if (!config.jwtSecret) throw new Error('WEB_CHAT_JWT_SECRET is not set')
  const now = config.now ?? (() => new Date())
  const log = config.log ?? consoleLog
  const visitorLimit = config.visitorLimit ?? { capacity: 8, perMinute: 20 }
  const tenantLimit = config.tenantLimit ?? { capacity: 120, perMinute: 600 }
  const visitors = new RateLimiter({ capacity: visitorLimit.capacity, refillPerSecond: visitorLimit.perMinute / 60 })
  const tenants = new RateLimiter({ capacity: tenantLimit.capacity, refillPerSecond: tenantLimit.perMinute / 60 })
  const realtimeUrl = `${config.publicUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/realtime/v1/websocket`

  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    json(status, body, { ...CORS, ...headers })

  async function widgetConnection(widgetKey: string): Promise<WidgetConnection | null> {
    if (!widgetKey || widgetKey.length > 200) return null
    const connection = await config.rpc<WidgetConnection | null>('resolve_widget_connection', { widget_key: widgetKey })
    return connection && connection.kind === 'web_chat' && connection.status === 'active' ? connection : null
  }

  /** Takes a token from each bucket that applies; the first refusal answers 429. */
  function limit(keys: Array<{ limiter: RateLimiter; key: string }>): Response | null {
    const at = now()
    for (const { limiter, key } of keys) {
      const decision = limiter.take(key, at)
      if (!decision.allowed) {
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
        log('web_chat.rate_limited', { key: key.split(':')[0] })
        return reply(
          429,
          { error: 'rate_limited', message: 'You are sending messages a little too quickly. Please wait a moment.' },
          { 'retry-after': String(seconds) },
        )
      }
    }
    return null
  }

  async function readJson(req: Request): Promise<Record<string, unknown> | null> {
    const body = await readRawBody(req, 64 * 1024)
    if (!body.ok) return null
    if (!body.text) return {}
    try {
      const value: unknown = JSON.parse(body.text)
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : null
    } catch {
      return null
    }
  }

  async function visitorOf(req: Request): Promise<(VisitorClaims & { connection: WidgetConnection }) | Response> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
    const verified = await verifyVisitorToken({ secret: config.jwtSecret, token, now: now() })
    if (!verified.ok) return reply(401, { error: 'invalid_token' })
    const connection = await widgetConnection(verified.widgetKey)
    // A token outlives nothing: a disabled widget or a rotated key ends its sessions.
    if (!connection || connection.connection_id !== verified.connectionId) return reply(401, { error: 'invalid_token' })
    return { ...verified, connection }
  }

  async function session(req: Request, url: URL): Promise<Response> {
    const body = await readJson(req)
    if (!body) return reply(400, { error: 'invalid_json' })
    const widgetKey =
      (typeof body['widget_key'] === 'string' ? body['widget_key'] : null) ??
      req.headers.get('x-widget-key') ??
      url.searchParams.get('key') ??
      ''
    const connection = await widgetConnection(widgetKey)
    if (!connection) return reply(404, { error: 'unknown_widget' })
    const limited = limit([{ limiter: tenants, key: `tenant:${connection.tenant_id}` }])
    if (limited) return limited

    const at = now()
    const previous = typeof body['token'] === 'string' ? body['token'] : null
    let claims: { visitorId: string; topic: string } | null = null
    if (previous) {
      const verified = await verifyVisitorToken({ secret: config.jwtSecret, token: previous, now: at, widgetKey })
      // Resumed only while more than a day remains; otherwise the same visitor gets a fresh token.
      if (verified.ok && verified.connectionId === connection.connection_id) {
        claims = { visitorId: verified.visitorId, topic: verified.topic }
        if (verified.expiresAt.getTime() - at.getTime() > 24 * 3600 * 1000) {
          const status = await conversationStatus(connection, verified.visitorId)
          return reply(
            200,
            sessionBody(previous, verified.visitorId, verified.topic, verified.expiresAt, connection, status),
          )
        }
      }
    }
    const visitorId = claims?.visitorId ?? crypto.randomUUID()
    const topic = claims?.topic ?? `webchat:${visitorId}`
    const ttlSeconds = config.tokenTtlSeconds ?? 7 * 24 * 3600
    const token = await mintVisitorToken({
      secret: config.jwtSecret,
      widgetKey,
      connectionId: connection.connection_id,
      visitorId,
      topic,
      now: at,
      ttlSeconds,
      role: VISITOR_ROLE,
    })
    const expiresAt = new Date((Math.floor(at.getTime() / 1000) + ttlSeconds) * 1000)
    log('web_chat.session', { connection_id: connection.connection_id, resumed: claims !== null })
    // A new visitor has no conversation yet.
    const status = claims ? await conversationStatus(connection, visitorId) : null
    return reply(claims ? 200 : 201, sessionBody(token, visitorId, topic, expiresAt, connection, status))
  }

  /** The status of the visitor's own conversation on this widget, or null before the first message. */
  function conversationStatus(connection: WidgetConnection, visitorId: string): Promise<string | null> {
    return config.rpc<string | null>('web_chat_status', {
      connection_id: connection.connection_id,
      visitor_id: visitorId,
    })
  }

  function sessionBody(
    token: string,
    visitorId: string,
    topic: string,
    expiresAt: Date,
    connection: WidgetConnection,
    status: string | null,
  ) {
    const settings = connection.settings ?? {}
    return {
      token,
      visitor_id: visitorId,
      topic,
      expires_at: expiresAt.toISOString(),
      status,
      realtime: { url: realtimeUrl, apikey: config.anonKey },
      widget: {
        name: connection.name,
        greeting: typeof settings['greeting'] === 'string' ? settings['greeting'] : null,
      },
    }
  }

  async function postMessage(req: Request): Promise<Response> {
    const visitor = await visitorOf(req)
    if (visitor instanceof Response) return visitor
    const limited = limit([
      { limiter: visitors, key: `visitor:${visitor.visitorId}` },
      { limiter: tenants, key: `tenant:${visitor.connection.tenant_id}` },
    ])
    if (limited) return limited
    const body = await readJson(req)
    if (!body) return reply(400, { error: 'invalid_json' })
    const messageText = typeof body['text'] === 'string' ? body['text'].trim() : ''
    if (!messageText) return reply(400, { error: 'text_required' })
    if (messageText.length > WEB_CHAT_MAX_TEXT) return reply(413, { error: 'text_too_long', max: WEB_CHAT_MAX_TEXT })
    const clientId = typeof body['client_message_id'] === 'string' ? body['client_message_id'] : null
    if (clientId !== null && !CLIENT_MESSAGE_ID.test(clientId))
      return reply(400, { error: 'invalid_client_message_id' })

    const result = await config.rpc<IngestResult>('ingest_message', {
      connection_id: visitor.connection.connection_id,
      // Scoped to the visitor: another visitor reusing an id can never reach this message.
      external_id: `web:${visitor.visitorId}:${clientId ?? crypto.randomUUID()}`,
      thread_key: visitor.visitorId,
      external_user_id: visitor.visitorId,
      text: messageText,
      channel_context: { web_chat_visitor_id: visitor.visitorId },
      metadata: {
        web_chat_origin: req.headers.get('origin'),
        ...(clientId ? { web_chat_client_message_id: clientId } : {}),
      },
    })
    return reply(result.duplicate ? 200 : 202, {
      message_id: result.message_id,
      duplicate: result.duplicate,
      status: result.conversation_status ?? null,
      agent_reply_expected: !result.duplicate && result.enqueued === true,
      rate_limited: !result.duplicate && !!result.rate_limited,
      notice_expected: !result.duplicate && !!result.notice_message_id,
    })
  }

  async function history(req: Request, url: URL): Promise<Response> {
    const visitor = await visitorOf(req)
    if (visitor instanceof Response) return visitor
    const limited = limit([{ limiter: visitors, key: `visitor:${visitor.visitorId}` }])
    if (limited) return limited
    const afterRaw = url.searchParams.get('after_seq')
    const afterSeq = afterRaw !== null && /^\d{1,18}$/.test(afterRaw) ? Number(afterRaw) : null
    const result = await config.rpc<{ messages: unknown[]; status: string } | null>('web_chat_history', {
      connection_id: visitor.connection.connection_id,
      visitor_id: visitor.visitorId,
      after_seq: afterSeq,
      page_size: 100,
    })
    return reply(200, { messages: result?.messages ?? [], status: result?.status ?? null })
  }

  return async (req) => {
    const url = new URL(req.url)
    const path = subPath(url, 'web-chat')
    try {
      if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS })
      if (path === '/widget.js' && (req.method === 'GET' || req.method === 'HEAD')) {
        return new Response(req.method === 'HEAD' ? null : WEB_CHAT_WIDGET_JS, {
          headers: {
            ...CORS,
            'content-type': 'application/javascript; charset=utf-8',
            'cache-control': 'public, max-age=300',
            'x-content-type-options': 'nosniff',
          },
        })
      }
      if (path === '/session' && req.method === 'POST') return await session(req, url)
      if (path === '/messages' && req.method === 'POST') return await postMessage(req)
      if (path === '/messages' && req.method === 'GET') return await history(req, url)
      return reply(404, { error: 'not_found' })
    } catch (error) {
      if (error instanceof ApiError && error.code === 'KO005') return reply(403, { error: 'unavailable' })
      log('web_chat.failed', { error: describeError(error), path })
      return reply(500, { error: 'something went wrong; please try again' })
    }
  }
}
