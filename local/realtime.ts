// Supabase Realtime for the local stack: the Phoenix websocket at
// /realtime/v1/websocket, speaking the protocol of @supabase/realtime-js (vsn 2.0.0,
// its default, and 1.0.0) the way supabase/realtime answers it.
//
// Implemented:
// - heartbeat on the `phoenix` topic; phx_join with its config (broadcast self/ack,
//   private, replication_ready); phx_leave; a second join of a topic replaces the first.
// - The channel's JWT (access_token, else the socket's apikey) must verify and carry
//   `role` and `exp`; the channel is shut down when it expires or when a refreshed
//   access_token is invalid, as Supabase does (a `system` error message, then phx_close).
// - Private channels are authorized by RLS on realtime.messages, as the joining user,
//   with realtime.topic() set (read at join and on each token refresh; write on the
//   first client broadcast). Public channels only need a valid token.
// - Client broadcasts to the topic's other subscribers (self and ack on request), on
//   private channels only when the insert policy allows.
// - Broadcasts from the database (realtime.send, realtime.broadcast_changes): rows of
//   realtime.messages are read after each commit, in commit order, and reach the joined
//   channels of that topic whose privacy matches the message's and who may read it.
//
// Not implemented (the client never hangs on them):
// - Presence: a join with presence enabled gets an empty presence_state, and
//   track/untrack are answered with an error; nobody is ever present.
// - Postgres Changes: the join is accepted and its bindings get ids, then a `system`
//   message with status "error" says that no changes will be streamed.
// - Broadcast replay, the REST broadcast endpoints (POST /realtime/v1/api/broadcast,
//   used by channel.send() before subscribing and by channel.httpSend()), rate and
//   payload-size limits, and the throttling of access_token refreshes.
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import type { Claims } from './db.ts'
import type { StackContext } from './http.ts'
import { apiKeyRole, verifyJwt } from './keys.ts'
import { authorizeRead, authorizeWrite, checkChannelToken, type ReadPolicies } from './realtime-authorization.ts'
import {
  decodeFrame,
  encodeMessage,
  encodeUserBroadcast,
  isUserBroadcastPush,
  SUPPORTED_VSNS,
  type InboundMessage,
  type OutboundMessage,
  type Vsn,
} from './realtime-protocol.ts'

const WEBSOCKET_PATH = '/realtime/v1/websocket'
const TOPIC_PREFIX = 'realtime:'
/** Safety net for messages committed outside LocalDb's wrappers. */
const POLL_MS = 1000
const BATCH_ROWS = 500
/** Supabase re-confirms a channel's token at its expiry, at least hourly. */
const CONFIRM_TOKEN_MAX_MS = 60 * 60 * 1000
const MAX_FRAME_BYTES = 8_000_000
const CLOSE_GRACE_MS = 1000

const NOT_IMPLEMENTED_PRESENCE = 'Presence is not implemented by the local stack'
const NOT_IMPLEMENTED_POSTGRES_CHANGES =
  'Postgres Changes are not implemented by the local stack: no changes will be sent on this channel. Broadcast from the database instead.'

export function attachRealtime(server: Server, ctx: StackContext): { close(): Promise<void> } {
  const realtime = new RealtimeServer(ctx)
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    // Leave other paths to other upgrade handlers, if the server has any.
    if (!path.startsWith('/realtime/') && server.listenerCount('upgrade') > 1) return
    realtime.handleUpgrade(req, socket, head).catch((error: unknown) => {
      ctx.log(`realtime: upgrade failed: ${(error as Error).stack ?? String(error)}`)
      socket.destroy()
    })
  }
  server.on('upgrade', onUpgrade)
  return {
    async close() {
      server.off('upgrade', onUpgrade)
      await realtime.close()
    },
  }
}

interface ChannelConfig {
  private: boolean
  self: boolean
  ack: boolean
  presence: boolean
  replicationReady: boolean
  postgresChanges: Record<string, unknown>[]
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads phx_join's config leniently, as Supabase does (a bad config falls back to defaults). */
function parseJoinConfig(payload: Record<string, unknown>): ChannelConfig {
  const config = isRecord(payload.config) ? payload.config : {}
  const broadcast = isRecord(config.broadcast) ? config.broadcast : {}
  const presence = isRecord(config.presence) ? config.presence : {}
  return {
    private: config.private === true,
    self: broadcast.self === true,
    ack: broadcast.ack === true,
    presence: presence.enabled === true,
    replicationReady: broadcast.replication_ready === true,
    postgresChanges: Array.isArray(config.postgres_changes) ? config.postgres_changes.filter(isRecord) : [],
  }
}

/** The token a channel runs with: its own access_token, else the socket's apikey. */
function channelToken(payload: Record<string, unknown>, apikey: string): string {
  const token = payload.access_token ?? payload.user_token
  if (typeof token !== 'string' || token === '' || token.startsWith('sb_')) return apikey
  return token
}

/** Private and public channels of one topic never see each other's messages. */
function subscriptionKey(isPrivate: boolean, subTopic: string): string {
  return `${isPrivate ? 'private' : 'public'}:${subTopic}`
}

/**
 * A phx_join being decided. `authorized` turns true inside the transaction that
 * authorizes a private channel, so a read of realtime.messages that runs after that
 * transaction sees it; from there on, until `done`, the channel is as good as joined.
 */
class PendingJoin {
  authorized = false
  settle!: () => void
  readonly done = new Promise<void>((resolve) => (this.settle = resolve))
}

interface DatabaseMessage {
  seq: string
  id: string
  topic: string
  event: string
  payload: unknown
  private: boolean | null
}

class Channel {
  open = true
  policies: ReadPolicies | null = null
  /** Insert permission for client broadcasts, checked on the first one. */
  canWrite: boolean | null = null
  tokenTimer: NodeJS.Timeout | undefined

  constructor(
    readonly connection: Connection,
    readonly topic: string,
    readonly subTopic: string,
    readonly joinRef: string,
    readonly config: ChannelConfig,
    public accessToken: string,
    public claims: Claims,
    public exp: number,
  ) {}

  get key(): string {
    return subscriptionKey(this.config.private, this.subTopic)
  }

  get readsBroadcasts(): boolean {
    return !this.config.private || this.policies?.broadcast === true
  }

  push(event: string, payload: unknown): void {
    this.connection.sendMessage({ joinRef: this.joinRef, ref: null, topic: this.topic, event, payload })
  }

  pushSystem(extension: string, status: 'ok' | 'error', message: string): void {
    this.push('system', { extension, status, message, channel: this.subTopic })
  }
}

class Connection {
  readonly channels = new Map<string, Channel>()
  private queue: Promise<void> = Promise.resolve()
  closed = false

  constructor(
    private readonly realtime: RealtimeServer,
    readonly ws: WebSocket,
    readonly vsn: Vsn,
    readonly apikey: string,
  ) {
    ws.on('message', (data, isBinary) => this.receive(toBuffer(data), isBinary))
    ws.on('close', () => this.dispose())
    ws.on('error', (error) => realtime.log(`realtime: socket error: ${error.message}`))
  }

  /** Messages of one socket are handled one after another, like a Phoenix channel's mailbox. */
  enqueue(work: () => Promise<void>): void {
    this.queue = this.queue
      .then(work)
      .catch((error: unknown) => this.realtime.log(`realtime: ${(error as Error).stack ?? String(error)}`))
  }

  settled(): Promise<void> {
    return this.queue
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let message: InboundMessage
    try {
      message = decodeFrame(this.vsn, data, isBinary)
    } catch (error) {
      this.realtime.log(`realtime: dropped a frame: ${(error as Error).message}`)
      return
    }
    this.enqueue(() => this.realtime.handleMessage(this, message))
  }

  send(frame: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame)
  }

  sendMessage(message: OutboundMessage): void {
    this.send(encodeMessage(this.vsn, message))
  }

  reply(
    message: InboundMessage,
    status: 'ok' | 'error',
    response: Record<string, unknown>,
    joinRef = message.joinRef,
  ): void {
    this.sendMessage({
      joinRef,
      ref: message.ref,
      topic: message.topic,
      event: 'phx_reply',
      payload: { status, response },
    })
  }

  /** Stops every channel of the socket (it closed, or the server is stopping). */
  dispose(): void {
    if (this.closed) return
    this.closed = true
    for (const channel of [...this.channels.values()]) this.realtime.closeChannel(channel, false)
    this.realtime.forget(this)
  }

  /** Closes the socket, and makes sure it is gone within the grace period. */
  async close(): Promise<void> {
    this.dispose()
    if (this.ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate()
        resolve()
      }, CLOSE_GRACE_MS)
      this.ws.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      this.ws.close(1001, 'server shutting down')
    })
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

class RealtimeServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  private readonly connections = new Set<Connection>()
  private readonly subscribers = new Map<string, Set<Channel>>()
  private readonly broadcasts: DatabaseBroadcasts
  private postgresChangesIds = 0
  /** Joins between their phx_join and their answer. */
  private readonly pendingJoins = new Set<PendingJoin>()
  private closing = false

  constructor(private readonly ctx: StackContext) {
    this.broadcasts = new DatabaseBroadcasts(ctx, {
      deliver: (message) => this.deliverDatabaseMessage(message),
      listening: () => this.subscribers.size > 0 || this.pendingJoins.size > 0,
      joinsAuthorized: () => [...this.pendingJoins].filter((j) => j.authorized).map((j) => j.done),
    })
  }

  log(line: string): void {
    this.ctx.log(line)
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname.replace(/\/+$/, '')
    if (path !== WEBSOCKET_PATH) return rejectUpgrade(socket, 404, 'no Route matched with those values')
    const vsn = url.searchParams.get('vsn') ?? '1.0.0'
    if (!SUPPORTED_VSNS.includes(vsn as Vsn)) return rejectUpgrade(socket, 400, `unsupported vsn ${vsn}`)
    const header = req.headers['x-api-key'] ?? req.headers.apikey
    const apikey = (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('apikey')
    if (!apikey) return rejectUpgrade(socket, 403, 'apikey is required')
    // Like Realtime's UserSocket.connect: a key that does not verify refuses the socket.
    const known = apiKeyRole(this.ctx.keys, apikey) !== undefined || (await verifyJwt(this.ctx.keys, apikey)).ok
    if (!known) return rejectUpgrade(socket, 403, 'invalid apikey')
    if (this.closing) return rejectUpgrade(socket, 503, 'realtime is shutting down')
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closing) {
        ws.terminate()
        return
      }
      this.connections.add(new Connection(this, ws, vsn as Vsn, apikey))
    })
  }

  forget(connection: Connection): void {
    this.connections.delete(connection)
  }

  async handleMessage(connection: Connection, message: InboundMessage): Promise<void> {
    if (connection.closed) return
    if (message.topic === 'phoenix' && message.event === 'heartbeat') {
      connection.reply(message, 'ok', {})
      return
    }
    if (message.event === 'phx_join') {
      // Database broadcasts watch pending joins: what commits after a join's
      // authorization must reach it (see DatabaseBroadcasts.drain).
      const pending = new PendingJoin()
      this.pendingJoins.add(pending)
      try {
        return await this.join(connection, message, pending)
      } finally {
        this.pendingJoins.delete(pending)
        pending.settle()
      }
    }
    const channel = connection.channels.get(message.topic)
    if (!channel) {
      if (message.event === 'phx_leave') connection.reply(message, 'ok', {})
      else connection.reply(message, 'error', { reason: 'unmatched topic' })
      return
    }
    // A message for an earlier join of this topic raced its close; Phoenix drops it.
    if (message.joinRef !== null && message.joinRef !== channel.joinRef) return
    switch (message.event) {
      case 'phx_leave':
        connection.reply(message, 'ok', {}, channel.joinRef)
        this.closeChannel(channel, true)
        return
      case 'access_token':
        return this.refreshToken(channel, message)
      case 'broadcast':
        return this.clientBroadcast(channel, message)
      case 'presence':
        connection.reply(message, 'error', { reason: NOT_IMPLEMENTED_PRESENCE }, channel.joinRef)
        return
      default:
        // Supabase ignores events it does not know.
        return
    }
  }

  private async join(connection: Connection, message: InboundMessage, pending: PendingJoin): Promise<void> {
    const { topic } = message
    const joinRef = message.joinRef ?? message.ref ?? ''
    const existing = connection.channels.get(topic)
    if (existing) this.closeChannel(existing, true)
    if (!topic.startsWith(TOPIC_PREFIX)) {
      connection.reply(message, 'error', { reason: 'unmatched topic' })
      return
    }
    const subTopic = topic.slice(TOPIC_PREFIX.length)
    const joinError = (reason: string) => connection.reply(message, 'error', { reason })
    if (!subTopic) return joinError('TopicNameRequired: You must provide a topic name')

    const payload = isRecord(message.payload) ? message.payload : {}
    const config = parseJoinConfig(payload)
    const token = channelToken(payload, connection.apikey)
    const checked = await checkChannelToken(this.ctx.keys, token)
    if (!checked.ok) return joinError(`${checked.code}: ${checked.message}`)

    let policies: ReadPolicies | null = null
    if (config.private) {
      policies = await this.readPolicies(checked.claims, subTopic, config.presence, (decided) => {
        pending.authorized = decided.broadcast || decided.presence
      })
      if (!policies.broadcast && !policies.presence) {
        return joinError(`Unauthorized: You do not have permissions to read from this Channel topic: ${subTopic}`)
      }
    }
    if (connection.closed || this.closing) return

    const channel = new Channel(connection, topic, subTopic, joinRef, config, token, checked.claims, checked.exp)
    channel.policies = policies
    connection.channels.set(topic, channel)
    let set = this.subscribers.get(channel.key)
    if (!set) this.subscribers.set(channel.key, (set = new Set()))
    set.add(channel)
    this.scheduleTokenCheck(channel)

    const postgresChanges = config.postgresChanges.map((change) => ({ ...change, id: ++this.postgresChangesIds }))
    connection.reply(message, 'ok', { postgres_changes: postgresChanges }, joinRef)
    if (config.replicationReady) channel.pushSystem('system', 'ok', 'Replication connection established')
    if (config.presence) channel.push('presence_state', {})
    if (postgresChanges.length > 0) {
      this.log(`realtime: ${topic} asked for postgres_changes, which the local stack does not stream`)
      channel.pushSystem('postgres_changes', 'error', NOT_IMPLEMENTED_POSTGRES_CHANGES)
    }
  }

  /** RLS read check; a policy that errors counts as a refusal, as on Supabase. */
  private async readPolicies(
    claims: Claims,
    subTopic: string,
    presence: boolean,
    onDecided?: (policies: ReadPolicies) => void,
  ): Promise<ReadPolicies> {
    try {
      return await authorizeRead(this.ctx.db, claims, subTopic, { presence, onDecided })
    } catch (error) {
      this.log(`realtime: RlsPolicyError on ${subTopic}: ${(error as Error).message}`)
      return { broadcast: false, presence: false }
    }
  }

  private async refreshToken(channel: Channel, message: InboundMessage): Promise<void> {
    const token = isRecord(message.payload) ? message.payload.access_token : undefined
    if (typeof token !== 'string' || token.startsWith('sb_') || token === channel.accessToken) return
    const checked = await checkChannelToken(this.ctx.keys, token)
    if (!channel.open) return
    if (!checked.ok) return this.shutdownChannel(channel, checked.message)
    channel.accessToken = token
    channel.claims = checked.claims
    channel.exp = checked.exp
    channel.canWrite = null
    if (channel.config.private) {
      const previous = channel.policies
      const policies = await this.readPolicies(checked.claims, channel.subTopic, channel.config.presence)
      if (!channel.open) return
      if (!policies.broadcast && !policies.presence) {
        return this.shutdownChannel(
          channel,
          `You do not have permissions to read from this Channel topic: ${channel.subTopic}`,
        )
      }
      if (previous && ((previous.broadcast && !policies.broadcast) || (previous.presence && !policies.presence))) {
        return this.shutdownChannel(
          channel,
          `You no longer have permission to read from this Channel topic: ${channel.subTopic}`,
        )
      }
      channel.policies = policies
    }
    this.scheduleTokenCheck(channel)
  }

  /** Re-checks the channel's token when it expires (at least hourly), as Supabase does. */
  private scheduleTokenCheck(channel: Channel): void {
    clearTimeout(channel.tokenTimer)
    const untilExpiry = Math.max(0, channel.exp * 1000 - Date.now()) + 50
    channel.tokenTimer = setTimeout(
      () => {
        channel.connection.enqueue(async () => {
          if (!channel.open) return
          const checked = await checkChannelToken(this.ctx.keys, channel.accessToken)
          if (!channel.open) return
          if (checked.ok) this.scheduleTokenCheck(channel)
          else this.shutdownChannel(channel, checked.message)
        })
      },
      Math.min(untilExpiry, CONFIRM_TOKEN_MAX_MS),
    )
    channel.tokenTimer.unref()
  }

  private async clientBroadcast(channel: Channel, message: InboundMessage): Promise<void> {
    const payload = message.payload
    if (!isUserBroadcastPush(payload) && !isRecord(payload)) return
    if (channel.config.private) {
      if (channel.canWrite === null) {
        try {
          channel.canWrite = (
            await authorizeWrite(this.ctx.db, channel.claims, channel.subTopic, (line) => this.log(line))
          ).broadcast
        } catch (error) {
          this.log(`realtime: UnableToSetPolicies on ${channel.subTopic}: ${(error as Error).message}`)
          return
        }
      }
      // Supabase drops a broadcast the user may not write, without an ack.
      if (!channel.canWrite || !channel.open) return
    }
    const except = channel.config.self ? undefined : channel
    if (isUserBroadcastPush(payload)) {
      const broadcast = {
        topic: channel.topic,
        userEvent: payload.userEvent,
        encoding: payload.encoding,
        data: payload.data,
      }
      this.fanOut(channel.key, except, (vsn) => encodeUserBroadcast(vsn, broadcast))
    } else {
      const broadcast = { joinRef: null, ref: null, topic: channel.topic, event: 'broadcast', payload }
      this.fanOut(channel.key, except, (vsn) => encodeMessage(vsn, broadcast))
    }
    if (channel.config.ack) channel.connection.reply(message, 'ok', {}, channel.joinRef)
  }

  /** Sends one message to every reader of a subscription, encoding it once per protocol version. */
  private fanOut(key: string, except: Channel | undefined, encode: (vsn: Vsn) => string | Buffer | null): void {
    const channels = this.subscribers.get(key)
    if (!channels) return
    const frames = new Map<Vsn, string | Buffer | null>()
    for (const channel of channels) {
      if (channel === except || !channel.readsBroadcasts) continue
      const { vsn } = channel.connection
      if (!frames.has(vsn)) frames.set(vsn, encode(vsn))
      const frame = frames.get(vsn)
      if (frame !== null && frame !== undefined) channel.connection.send(frame)
    }
  }

  private deliverDatabaseMessage(message: DatabaseMessage): void {
    const key = subscriptionKey(message.private === true, message.topic)
    const topic = TOPIC_PREFIX + message.topic
    const payload = { type: 'broadcast', event: message.event, payload: message.payload, meta: { id: message.id } }
    this.fanOut(key, undefined, (vsn) =>
      encodeMessage(vsn, { joinRef: null, ref: null, topic, event: 'broadcast', payload }),
    )
  }

  /** Supabase's shutdown_response: a `system` error message, then the channel closes. */
  private shutdownChannel(channel: Channel, reason: string): void {
    channel.pushSystem('system', 'error', reason)
    this.closeChannel(channel, true)
  }

  closeChannel(channel: Channel, notify: boolean): void {
    if (!channel.open) return
    channel.open = false
    clearTimeout(channel.tokenTimer)
    const set = this.subscribers.get(channel.key)
    set?.delete(channel)
    if (set?.size === 0) this.subscribers.delete(channel.key)
    const { connection } = channel
    if (connection.channels.get(channel.topic) === channel) connection.channels.delete(channel.topic)
    if (notify) {
      connection.sendMessage({
        joinRef: channel.joinRef,
        ref: channel.joinRef,
        topic: channel.topic,
        event: 'phx_close',
        payload: {},
      })
    }
  }

  async close(): Promise<void> {
    this.closing = true
    await this.broadcasts.stop()
    const connections = [...this.connections]
    await Promise.all(connections.map((c) => c.close()))
    await Promise.allSettled(connections.map((c) => c.settled()))
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  socket.destroy()
}

interface BroadcastSink {
  deliver(message: DatabaseMessage): void
  /** True while any channel is joined, or a join is being decided. */
  listening(): boolean
  /** Joins authorized in the database whose channel is not subscribed yet. */
  joinsAuthorized(): Promise<void>[]
}

/**
 * Reads broadcasts from realtime.messages once their transaction has committed, in
 * commit order (local_seq), like Supabase's replication of that table. It reads as the
 * owner with db.pg directly, so reading fires no onCommit of its own; bursts of commits
 * coalesce into one read.
 *
 * Why the cursor (local_seq > last read) never skips a row: local_seq is taken at
 * insert time, and PGlite is one connection whose transactions (LocalDb's wrappers,
 * the authorization probes) and standalone queries (these reads, pg_cron and pg_net
 * bookkeeping) all take the same mutex, so transactions never interleave and no read
 * runs inside an open transaction. Rows therefore commit in local_seq order, and a
 * read sees all rows below the highest one it sees. Rolled-back rows (probes,
 * failed requests) only leave gaps.
 *
 * On a native server many connections commit at once, so local_seq order is not
 * commit order there; instead a trigger (local/native.sql) notifies each broadcast's
 * local_seq, which PostgreSQL delivers after commit, in commit order, never after a
 * rollback. Those are read in the order they arrive.
 */
class DatabaseBroadcasts {
  private lastSeq = '0'
  /** Native server: local_seq of committed broadcasts, in commit order, not yet read. */
  private committed: string[] = []
  private readonly ready: Promise<void>
  private draining: Promise<void> | undefined
  private again = false
  private stopped = false
  private readonly timer: NodeJS.Timeout
  private readonly unsubscribe: () => void

  constructor(
    private readonly ctx: StackContext,
    private readonly sink: BroadcastSink,
  ) {
    const native = ctx.db.native
    // Messages committed before the server started are history, not news.
    this.ready = (
      native
        ? native.listen('konstruct_broadcast', (seq) => {
            this.committed.push(seq)
            this.wake()
          })
        : this.latestSeq().then((seq) => void (this.lastSeq = seq))
    ).then(
      () => {},
      (error: unknown) => ctx.log(`realtime: cannot read realtime.messages: ${(error as Error).message}`),
    )
    this.unsubscribe = native ? () => {} : ctx.db.onCommit(() => this.wake())
    this.timer = setInterval(() => this.wake(), POLL_MS)
    this.timer.unref()
  }

  private async latestSeq(): Promise<string> {
    const { rows } = await this.ctx.db.pg.query<{ seq: string }>(
      'select coalesce(max(local_seq), 0)::text as seq from realtime.messages',
    )
    return rows[0].seq
  }

  private wake(): void {
    if (this.stopped) return
    if (this.draining) {
      this.again = true
      return
    }
    this.draining = this.drain()
      .catch((error: unknown) => this.ctx.log(`realtime: reading broadcasts failed: ${(error as Error).message}`))
      .finally(() => {
        this.draining = undefined
        if (this.again) {
          this.again = false
          this.wake()
        }
      })
  }

  private async drain(): Promise<void> {
    await this.ready
    if (this.ctx.db.native) return this.drainCommitted()
    if (!this.sink.listening()) {
      // Nobody listens: skip ahead without reading the messages. The query waits its
      // turn for the database, behind whatever was queued first, possibly a join's
      // authorization and then messages for it. So skip only if, once the query has
      // run, still nobody listens or is joining: every message skipped then
      // committed before any later join could be authorized.
      const seq = await this.latestSeq()
      if (!this.sink.listening()) {
        if (BigInt(seq) > BigInt(this.lastSeq)) this.lastSeq = seq
        return
      }
    }
    for (;;) {
      const { rows } = await this.ctx.db.pg.query<DatabaseMessage>(
        `select local_seq::text as seq, id::text as id, topic, event, payload, private
           from realtime.messages
          where local_seq > $1::bigint and extension = 'broadcast'
          order by local_seq
          limit ${BATCH_ROWS}`,
        [this.lastSeq],
      )
      // A private join authorized before this read is added to its topic's readers a
      // few microtasks after its transaction; rows read here may have committed after
      // that authorization, so they wait for it.
      const joins = this.sink.joinsAuthorized()
      if (joins.length > 0) await Promise.all(joins)
      for (const row of rows) {
        this.lastSeq = row.seq
        this.deliver(row)
      }
      if (rows.length < BATCH_ROWS || this.stopped) return
    }
  }

  /**
   * Native server: reads the broadcasts notified so far, in the order they committed.
   * When nobody listens or is joining they are dropped unread: a join decided after
   * this point was decided after they committed.
   */
  private async drainCommitted(): Promise<void> {
    while (this.committed.length > 0 && !this.stopped) {
      const seqs = this.committed.splice(0, BATCH_ROWS)
      if (!this.sink.listening()) continue
      const { rows } = await this.ctx.db.pg.query<DatabaseMessage>(
        `select local_seq::text as seq, id::text as id, topic, event, payload, private
           from realtime.messages
          where local_seq = any($1::bigint[])`,
        [seqs],
      )
      const bySeq = new Map(rows.map((row) => [row.seq, row]))
      const joins = this.sink.joinsAuthorized()
      if (joins.length > 0) await Promise.all(joins)
      for (const seq of seqs) {
        const row = bySeq.get(seq)
        if (row) this.deliver(row)
      }
    }
  }

  private deliver(row: DatabaseMessage): void {
    // Supabase skips a message without a topic, event or payload.
    if (this.stopped || row.topic === null || row.event === null || row.payload === null) return
    try {
      this.sink.deliver(row)
    } catch (error) {
      // One message that cannot be sent must not hold back the ones after it.
      this.ctx.log(`realtime: delivering broadcast ${row.id} failed: ${(error as Error).stack ?? String(error)}`)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.unsubscribe()
    await this.draining
  }
}
