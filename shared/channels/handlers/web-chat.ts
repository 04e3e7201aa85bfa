// The web-chat function: the public endpoint of the embeddable widget, keyed by the web
// chat connection's widget key. A visitor is an anonymous Supabase user: the widget signs
// in with signInAnonymously() (the publishable key), and sends that session's access token
// as its bearer; this function verifies it against the project's JWKS (no JWT secret) and
// takes the user id as the visitor id. Its Realtime topic is webchat:<visitor id>, the only
// one RLS on realtime.messages lets that anonymous user read.
//
//   GET  /web-chat/widget.js   the widget itself (one script tag, data-key="<widget key>")
//   POST /web-chat/session     Bearer <visitor session>, {widget_key} → the visitor id, the
//                              Realtime topic, how to reach Realtime and the conversation status;
//                              with x-member-authorization: Bearer <member session> as well, the
//                              portal's test chat (see `testChatOf`)
//   POST /web-chat/messages    Bearer <visitor session>, x-widget-key, {text, client_message_id?}
//                              → ingested, with the conversation status and what answer to expect
//   GET  /web-chat/messages    Bearer <visitor session>, x-widget-key, ?after_seq= → the
//                              visitor's history and the conversation status
//   POST /web-chat/rating      Bearer <visitor session>, x-widget-key, {rating: 1–5, comment?}
//                              → the visitor's own closed conversation rated, once
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
// POST and GET /messages also name the conversation: the widget joins its typing topic,
// typing:<conversation id>, where RLS lets only this visitor and the tenant's members in.
//
// Each request goes through three steps, each its own function so checks can be added to
// one of them: `visitorOf` (who: the verified anonymous session), `widgetOf` (where: the
// active web chat connection of the widget key, and a page whose Origin is among the
// widget's allowed_origins when it names any: 403 origin_not_allowed otherwise; the settings
// are read through the connection settings format, shared/channels/settings.ts, where an
// unreadable list admits no page) and `limit`
// (how often: allowances per client IP, per visitor and per tenant kept in the database,
// api.take_widget_allowance, so every instance of this function shares them; 429 +
// Retry-After). CORS answers any origin (no cookies: the session travels in the
// Authorization header); the Origin check is what decides.
//
// The portal's test chat is a visitor too, and its conversations are tests (never counted
// toward the plan). A visitor cannot say so of itself: only a /session request that also
// carries a verified, signed-in session of a member of the widget's tenant marks it
// (api.begin_test_chat, which checks the membership; service role only, so nobody names
// another person's visitor).
import { bearerIn, bearerOf, userVerifier, type UserCheck } from '../../api/callers.ts'
import { ApiError, type Api } from '../../api/client.ts'
import { projectFromEnv, requirePublishableKey, serviceApi } from '../../api/project.ts'
import { numberEnv, optionalEnv, type Env } from '../../runtime/env.ts'
import { consoleLog, describeError, json, subPath, type Log } from '../../runtime/http.ts'
import { readRawBody } from '../../net/request-body.ts'
import { isUnstorable } from '../../api/storable-text.ts'
import { readConnectionSettings, widgetAdmits, type ConnectionSettings } from '../settings.ts'
import { webChatWidgetScript } from '../webchat/widget.ts'

export interface WebChatConfig {
  /** Public base URL of the project (Auth and Realtime live under it). */
  publicUrl: string
  /** The publishable key the widget signs in and opens Realtime with (public by design). */
  publishableKey: string
  /** Verifies a visitor's access token against the project's JWKS. */
  verifyUser: UserCheck
  rpc: Api
  /** Requests per minute and visitor, per client IP (sessions too) and per tenant, all widgets together. */
  limits?: { perVisitor: number; perIp: number; perTenant: number }
  log?: Log
}

export function webChatConfigFromEnv(env: Env): WebChatConfig {
  const project = projectFromEnv(env)
  return {
    publicUrl: optionalEnv(env, 'WEB_CHAT_PUBLIC_URL') ?? project.url,
    publishableKey: requirePublishableKey(project),
    verifyUser: userVerifier(project),
    rpc: serviceApi(project),
    limits: {
      perVisitor: numberEnv(env, 'WEB_CHAT_VISITOR_PER_MINUTE', 20),
      perIp: numberEnv(env, 'WEB_CHAT_IP_PER_MINUTE', 60),
      perTenant: numberEnv(env, 'WEB_CHAT_TENANT_PER_MINUTE', 600),
    },
  }
}

export const WEB_CHAT_MAX_TEXT = 4000
const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_-]{8,64}$/

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers':
    'authorization, content-type, x-widget-key, x-member-authorization, x-client-info, apikey',
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

/** api.resolve_widget_connection's answer. */
interface StoredWidgetConnection {
  connection_id: string
  tenant_id: string
  kind: string
  name: string
  status: string
  widget_key: string
  settings: unknown
}

/** A widget's connection with its settings read through the format (what does not fit left out). */
interface WidgetConnection extends Omit<StoredWidgetConnection, 'settings'> {
  settings: ConnectionSettings
}

export function createWebChatHandler(config: WebChatConfig): (req: Request) => Promise<Response> {
  const log = config.log ?? consoleLog
  const limits = config.limits ?? { perVisitor: 20, perIp: 60, perTenant: 600 }
  const publicUrl = config.publicUrl.replace(/\/+$/, '')
  const realtimeUrl = `${publicUrl.replace(/^http/, 'ws')}/realtime/v1/websocket`
  const widgetJs = webChatWidgetScript({ supabaseUrl: publicUrl, publishableKey: config.publishableKey })

  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    json(status, body, { ...CORS, ...headers })

  /** Where: the active web chat connection of a widget key, or null. */
  async function widgetOf(widgetKey: string): Promise<WidgetConnection | null> {
    if (!widgetKey || widgetKey.length > 200) return null
    const connection = await config.rpc<StoredWidgetConnection | null>('resolve_widget_connection', {
      widget_key: widgetKey,
    })
    if (!connection || connection.kind !== 'web_chat' || connection.status !== 'active') return null
    const { settings, problems } = readConnectionSettings(connection.settings)
    if (problems.length) log('web_chat.settings_unreadable', { connection_id: connection.connection_id, problems })
    return { ...connection, settings }
  }

  /**
   * How often: one use of the client IP's, the visitor's (when known) and the tenant's
   * allowances, counted in the database for every instance of this function; 429 when spent.
   */
  async function limit(req: Request, connection: WidgetConnection, visitorId: string | null): Promise<Response | null> {
    const decision = await config.rpc<{ allowed: boolean; scope: string | null; retry_after_seconds: number }>(
      'take_widget_allowance',
      {
        connection_id: connection.connection_id,
        visitor_id: visitorId,
        client_ip: clientIp(req),
        per_visitor: limits.perVisitor,
        per_ip: limits.perIp,
        per_tenant: limits.perTenant,
        window_seconds: 60,
      },
    )
    if (decision.allowed) return null
    log('web_chat.rate_limited', { scope: decision.scope, connection_id: connection.connection_id })
    return reply(
      429,
      { error: 'rate_limited', message: 'You are sending messages a little too quickly. Please wait a moment.' },
      { 'retry-after': String(Math.max(1, decision.retry_after_seconds)) },
    )
  }

  /** Where, second half: the page's Origin must be one the widget's admin allowed, if they named any. */
  function originRefusal(req: Request, connection: WidgetConnection): Response | null {
    if (widgetAdmits(connection.settings, req.headers.get('origin'))) return null
    log('web_chat.origin_refused', { connection_id: connection.connection_id, origin: req.headers.get('origin') })
    return reply(403, { error: 'origin_not_allowed', message: 'This chat is not available on this website.' })
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

  /** Who: the anonymous visitor whose verified session this is (its user id), or null. */
  async function visitorOf(req: Request): Promise<string | null> {
    const claims = await config.verifyUser(bearerOf(req))
    return claims?.is_anonymous === true ? claims.sub : null
  }

  /** Who and where, for the message endpoints; a refusal as a Response. */
  async function visitorAt(
    req: Request,
    url: URL,
  ): Promise<{ visitorId: string; connection: WidgetConnection } | Response> {
    const visitorId = await visitorOf(req)
    if (!visitorId) return reply(401, { error: 'invalid_token' })
    const connection = await widgetOf(req.headers.get('x-widget-key') ?? url.searchParams.get('key') ?? '')
    if (!connection) return reply(404, { error: 'unknown_widget' })
    const refused = originRefusal(req, connection)
    if (refused) return refused
    return { visitorId, connection }
  }

  async function session(req: Request, url: URL): Promise<Response> {
    const visitorId = await visitorOf(req)
    if (!visitorId) return reply(401, { error: 'invalid_token' })
    const body = await readJson(req)
    if (!body) return reply(400, { error: 'invalid_json' })
    const widgetKey =
      (typeof body['widget_key'] === 'string' ? body['widget_key'] : null) ??
      req.headers.get('x-widget-key') ??
      url.searchParams.get('key') ??
      ''
    const connection = await widgetOf(widgetKey)
    if (!connection) return reply(404, { error: 'unknown_widget' })
    const refused = originRefusal(req, connection)
    if (refused) return refused
    const limited = await limit(req, connection, null)
    if (limited) return limited
    const test = await testChatOf(req, connection, visitorId)
    if (test instanceof Response) return test
    const status = await conversationStatus(connection, visitorId)
    log('web_chat.session', { connection_id: connection.connection_id, resumed: status !== null, test })
    return reply(200, {
      visitor_id: visitorId,
      test,
      topic: `webchat:${visitorId}`,
      status,
      realtime: { url: realtimeUrl, apikey: config.publishableKey },
      widget: {
        name: connection.name,
        greeting: connection.settings.greeting || null,
        title: connection.settings.title || null,
        color: connection.settings.accent_color || null,
        prechat_form: connection.settings.prechat_form === true,
      },
    })
  }

  /**
   * Whether this session is a member's test chat: with x-member-authorization, the
   * member's session must verify (signed in, not anonymous) and belong to the widget's
   * tenant (the database checks, api.begin_test_chat), else 401/403 and nothing is marked.
   */
  async function testChatOf(
    req: Request,
    connection: WidgetConnection,
    visitorId: string,
  ): Promise<boolean | Response> {
    const header = req.headers.get('x-member-authorization')
    if (header === null) return false
    const member = await config.verifyUser(bearerIn(header))
    if (!member || member.is_anonymous === true) return reply(401, { error: 'invalid_member_token' })
    try {
      await config.rpc('begin_test_chat', {
        connection_id: connection.connection_id,
        visitor_id: visitorId,
        member_id: member.sub,
      })
    } catch (error) {
      if (error instanceof ApiError && error.code === '42501') {
        log('web_chat.test_chat_refused', { connection_id: connection.connection_id })
        return reply(403, { error: 'not_a_member', message: 'Only members of this workspace can use its test chat.' })
      }
      throw error
    }
    return true
  }

  /** The status of the visitor's own conversation on this widget, or null before the first message. */
  function conversationStatus(connection: WidgetConnection, visitorId: string): Promise<string | null> {
    return config.rpc<string | null>('web_chat_status', {
      connection_id: connection.connection_id,
      visitor_id: visitorId,
    })
  }

  async function postMessage(req: Request, url: URL): Promise<Response> {
    const visitor = await visitorAt(req, url)
    if (visitor instanceof Response) return visitor
    const limited = await limit(req, visitor.connection, visitor.visitorId)
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
      conversation_id: result.conversation_id,
      duplicate: result.duplicate,
      status: result.conversation_status ?? null,
      agent_reply_expected: !result.duplicate && result.enqueued === true,
      rate_limited: !result.duplicate && !!result.rate_limited,
      notice_expected: !result.duplicate && !!result.notice_message_id,
    })
  }

  /** A rating of the visitor's own closed conversation (api.rate_web_chat_conversation): once, 1 to 5. */
  async function rate(req: Request, url: URL): Promise<Response> {
    const visitor = await visitorAt(req, url)
    if (visitor instanceof Response) return visitor
    const limited = await limit(req, visitor.connection, visitor.visitorId)
    if (limited) return limited
    const body = await readJson(req)
    if (!body) return reply(400, { error: 'invalid_json' })
    const rating = body['rating']
    if (typeof rating !== 'number' || !Number.isInteger(rating) || rating < 1 || rating > 5)
      return reply(400, { error: 'invalid_rating', message: 'A rating is a whole number from 1 to 5.' })
    const comment = typeof body['comment'] === 'string' ? body['comment'].trim() : ''
    if (comment.length > 1000) return reply(400, { error: 'comment_too_long', max: 1000 })
    try {
      const result = await config.rpc<{ rating: number; duplicate: boolean }>('rate_web_chat_conversation', {
        connection_id: visitor.connection.connection_id,
        visitor_id: visitor.visitorId,
        rating,
        comment: comment || null,
      })
      return reply(result.duplicate ? 200 : 201, { rating: result.rating, duplicate: result.duplicate })
    } catch (error) {
      if (error instanceof ApiError && error.code === 'P0002') return reply(404, { error: 'no_conversation' })
      if (error instanceof ApiError && error.code === '22023') return reply(409, { error: 'not_closed' })
      throw error
    }
  }

  async function history(req: Request, url: URL): Promise<Response> {
    const visitor = await visitorAt(req, url)
    if (visitor instanceof Response) return visitor
    const limited = await limit(req, visitor.connection, visitor.visitorId)
    if (limited) return limited
    const afterRaw = url.searchParams.get('after_seq')
    const afterSeq = afterRaw !== null && /^\d{1,18}$/.test(afterRaw) ? Number(afterRaw) : null
    const result = await config.rpc<{ messages: unknown[]; status: string; conversation_id?: string } | null>(
      'web_chat_history',
      {
        connection_id: visitor.connection.connection_id,
        visitor_id: visitor.visitorId,
        after_seq: afterSeq,
        page_size: 100,
      },
    )
    return reply(200, {
      messages: result?.messages ?? [],
      status: result?.status ?? null,
      conversation_id: result?.conversation_id ?? null,
    })
  }

  return async (req) => {
    const url = new URL(req.url)
    const path = subPath(url, 'web-chat')
    try {
      if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS })
      if (path === '/widget.js' && (req.method === 'GET' || req.method === 'HEAD')) {
        return new Response(req.method === 'HEAD' ? null : widgetJs, {
          headers: {
            ...CORS,
            'content-type': 'application/javascript; charset=utf-8',
            'cache-control': 'public, max-age=300',
            'x-content-type-options': 'nosniff',
          },
        })
      }
      if (path === '/session' && req.method === 'POST') return await session(req, url)
      if (path === '/messages' && req.method === 'POST') return await postMessage(req, url)
      if (path === '/messages' && req.method === 'GET') return await history(req, url)
      if (path === '/rating' && req.method === 'POST') return await rate(req, url)
      return reply(404, { error: 'not_found' })
    } catch (error) {
      if (error instanceof ApiError && error.code === 'KO005') return reply(403, { error: 'unavailable' })
      if (error instanceof ApiError && isUnstorable(error.code)) return reply(400, { error: 'message_unstorable' })
      log('web_chat.failed', { error: describeError(error), path })
      return reply(500, { error: 'something went wrong; please try again' })
    }
  }
}

/**
 * The client's address as the platform's proxy saw it: the last X-Forwarded-For hop (the
 * one the proxy appended; earlier hops are whatever the client sent), else X-Real-IP.
 */
export function clientIp(req: Request): string | null {
  const forwarded = req.headers.get('x-forwarded-for')
  const last = forwarded?.split(',').pop()?.trim()
  return last || req.headers.get('x-real-ip')?.trim() || null
}
