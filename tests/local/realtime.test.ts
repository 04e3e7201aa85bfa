// The local Realtime server, driven by the real supabase-js (and a raw `ws` client
// where the exact frames matter): private channels authorized by RLS on
// realtime.messages, broadcasts from the database after commit only, client
// broadcasts, token refresh, leave, and both protocol versions.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createClient,
  type RealtimeChannel,
  type SupabaseClient,
  type WebSocketLikeConstructor,
} from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { signLegacyJwt } from '../../local/keys.ts'
import { attachRealtime } from '../../local/realtime.ts'
import { repoRoot, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

type Status = 'SUBSCRIBED' | 'TIMED_OUT' | 'CLOSED' | 'CHANNEL_ERROR'

/** A channel with every broadcast and system message it receives, and its subscribe statuses. */
interface Watched {
  channel: RealtimeChannel
  broadcasts: Array<{ type: string; event: string; payload: unknown; meta?: { id: string } }>
  system: Array<{ extension: string; status: string; message: string; channel: string }>
  statuses: Array<{ status: Status; error?: Error }>
}

function watch(client: SupabaseClient, topic: string, config: Record<string, unknown> = {}): Watched {
  const channel = client.channel(topic, { config })
  const watched: Watched = { channel, broadcasts: [], system: [], statuses: [] }
  channel
    .on('broadcast', { event: '*' }, (message) => watched.broadcasts.push(message as Watched['broadcasts'][number]))
    .on('system', {}, (message) => watched.system.push(message as Watched['system'][number]))
  return watched
}

function text(broadcast: Watched['broadcasts'][number]): unknown {
  return (broadcast.payload as { text?: unknown }).text
}

function subscribe(watched: Watched): Promise<{ status: Status; error?: Error }> {
  const seen = watched.statuses.length
  watched.channel.subscribe((status, error) => watched.statuses.push({ status: status as Status, error }))
  return until(() => watched.statuses[seen])
}

/** A raw Phoenix client, for asserting exact frames. */
class RawSocket {
  readonly frames: unknown[] = []
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? { binary: Buffer.from(data as Buffer) } : JSON.parse(String(data)))
    })
  }

  static async open(url: string): Promise<RawSocket> {
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return new RawSocket(ws)
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame))
  }

  next(match: (frame: unknown) => boolean, from = 0): Promise<unknown> {
    return until(() => this.frames.slice(from).find(match))
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}

/** Upgrades that must be refused: the HTTP status they get. */
function refusedStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
      ws.terminate()
    })
    ws.once('open', () => {
      ws.terminate()
      reject(new Error('the upgrade was accepted'))
    })
    ws.once('error', () => {})
  })
}

describe('local Realtime', () => {
  let stack: TestStack
  const clients: SupabaseClient[] = []
  const raws: RawSocket[] = []
  const alice = randomUUID() // member of room:a, may write
  const bob = randomUUID() // member of nothing
  const carol = randomUUID() // member of room:c, read only

  function wsUrl(vsn = '2.0.0', apikey = stack.keys.anonKey): string {
    return `${stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${apikey}&vsn=${vsn}`
  }

  function userJwt(sub: string, expiresIn = 3600): Promise<string> {
    return signLegacyJwt(stack.keys.jwtSecret, { sub, role: 'authenticated', aud: 'authenticated' }, expiresIn)
  }

  /** A supabase-js client whose Realtime runs as `token` (or anon without one). */
  async function clientWith(token?: string, vsn?: string): Promise<SupabaseClient> {
    const client = createClient(stack.url, stack.keys.anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      // Node 20 has no global WebSocket; realtime-js takes `ws` as its transport.
      realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor, ...(vsn ? { vsn } : {}) },
    })
    if (token) await client.realtime.setAuth(token)
    clients.push(client)
    return client
  }

  async function rawSocket(vsn = '2.0.0'): Promise<RawSocket> {
    const raw = await RawSocket.open(wsUrl(vsn))
    raws.push(raw)
    return raw
  }

  function send(sql: string): Promise<unknown> {
    return stack.db.asOwner((tx) => tx.exec(sql))
  }

  beforeAll(async () => {
    stack = await startTestStack()
    await send(`
      create schema test_rt;
      create table test_rt.members (user_id uuid not null, topic text not null, can_write boolean not null default false);
      grant usage on schema test_rt to authenticated;
      grant select on test_rt.members to authenticated;
      create policy "members can read their topics" on realtime.messages
        for select to authenticated
        using (exists (select 1 from test_rt.members m where m.user_id = (select auth.uid()) and m.topic = (select realtime.topic())));
      create policy "writers can broadcast to their topics" on realtime.messages
        for insert to authenticated
        with check (exists (
          select 1 from test_rt.members m
           where m.user_id = (select auth.uid()) and m.topic = (select realtime.topic()) and m.can_write));
      insert into test_rt.members (user_id, topic, can_write) values
        ('${alice}', 'room:a', true), ('${carol}', 'room:c', false), ('${carol}', 'room:v1', false), ('${alice}', 'room:v1', true);
    `)
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.removeAllChannels()))
    await Promise.all(raws.map((r) => r.close()))
    await stack?.close()
  })

  it('refuses other paths, unknown protocol versions and a missing or forged apikey', async () => {
    const base = stack.url.replace('http', 'ws')
    expect(await refusedStatus(`${base}/realtime/v1/nowhere?apikey=${stack.keys.anonKey}&vsn=2.0.0`)).toBe(404)
    expect(await refusedStatus(wsUrl('3.0.0'))).toBe(400)
    expect(await refusedStatus(`${base}/realtime/v1/websocket?vsn=2.0.0`)).toBe(403)
    const forged = await signLegacyJwt('another-secret-that-is-at-least-32-characters', { role: 'service_role' }, 3600)
    expect(await refusedStatus(wsUrl('2.0.0', forged))).toBe(403)
  })

  it('answers heartbeats and messages to topics it has not joined', async () => {
    const raw = await rawSocket()
    raw.send([null, '1', 'phoenix', 'heartbeat', {}])
    expect(await raw.next((f) => (f as unknown[])[1] === '1')).toEqual([
      null,
      '1',
      'phoenix',
      'phx_reply',
      { status: 'ok', response: {} },
    ])
    raw.send(['7', '8', 'realtime:nowhere', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }])
    expect(await raw.next((f) => (f as unknown[])[1] === '8')).toEqual([
      '7',
      '8',
      'realtime:nowhere',
      'phx_reply',
      { status: 'error', response: { reason: 'unmatched topic' } },
    ])

    const v1 = await rawSocket('1.0.0')
    v1.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '5' })
    expect(await v1.next((f) => (f as { ref?: string }).ref === '5')).toEqual({
      topic: 'phoenix',
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: '5',
    })

    const client = await clientWith()
    const statuses: string[] = []
    client.realtime.onHeartbeat((status) => statuses.push(status))
    const watched = watch(client, 'heartbeat-check')
    expect((await subscribe(watched)).status).toBe('SUBSCRIBED')
    await client.realtime.sendHeartbeat()
    await until(() => (statuses.includes('ok') ? true : undefined))
  })

  it('delivers a database broadcast on a private channel to the authorized user only', async () => {
    const aliceChannel = watch(await clientWith(await userJwt(alice)), 'room:a', { private: true })
    const carolChannel = watch(await clientWith(await userJwt(carol)), 'room:c', { private: true })
    const publicChannel = watch(await clientWith(), 'room:a')
    expect((await subscribe(aliceChannel)).status).toBe('SUBSCRIBED')
    expect((await subscribe(carolChannel)).status).toBe('SUBSCRIBED')
    expect((await subscribe(publicChannel)).status).toBe('SUBSCRIBED')

    const bobClient = await clientWith(await userJwt(bob))
    const bobChannel = watch(bobClient, 'room:a', { private: true })
    const refused = await subscribe(bobChannel)
    await bobClient.removeChannel(bobChannel.channel)
    expect(refused.status).toBe('CHANNEL_ERROR')
    expect(refused.error?.message).toBe(
      'Unauthorized: You do not have permissions to read from this Channel topic: room:a',
    )

    await send(`select realtime.send('{"text": "hello a"}'::jsonb, 'message_created', 'room:a', true)`)
    const received = await until(() => aliceChannel.broadcasts[0])
    expect(received).toEqual({
      type: 'broadcast',
      event: 'message_created',
      // Supabase's current realtime.send also copies the message id into the payload.
      payload: expect.objectContaining({ text: 'hello a' }),
      meta: { id: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    })

    // Later messages to the other topics arrive after the first one would have.
    await send(`
      select realtime.send('{"text": "hello c"}'::jsonb, 'message_created', 'room:c', true);
      select realtime.send('{"text": "public a"}'::jsonb, 'notice', 'room:a', false);
    `)
    await until(() => carolChannel.broadcasts[0])
    await until(() => publicChannel.broadcasts[0])
    expect(carolChannel.broadcasts.map(text)).toEqual(['hello c'])
    expect(publicChannel.broadcasts.map(text)).toEqual(['public a'])
    // A private message never reaches a public channel of the same topic, nor the reverse.
    expect(aliceChannel.broadcasts.map(text)).toEqual(['hello a'])
  })

  it('never delivers a broadcast sent in a rolled-back transaction', async () => {
    const watched = watch(await clientWith(await userJwt(alice)), 'room:a', { private: true })
    expect((await subscribe(watched)).status).toBe('SUBSCRIBED')
    await expect(
      stack.db.asOwner(async (tx) => {
        await tx.exec(`select realtime.send('{"n": 1}'::jsonb, 'rolled_back', 'room:a', true)`)
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    await send(`select realtime.send('{"n": 2}'::jsonb, 'committed', 'room:a', true)`)
    await until(() => watched.broadcasts[0])
    expect(watched.broadcasts.map((b) => b.event)).toEqual(['committed'])
  })

  it('refuses a join with an expired token', async () => {
    const client = await clientWith(await userJwt(alice, -30))
    const watched = watch(client, 'room:a', { private: true })
    const result = await subscribe(watched)
    await client.removeChannel(watched.channel)
    expect(result.status).toBe('CHANNEL_ERROR')
    expect(result.error?.message).toMatch(/^InvalidJWTToken: Token has expired \d+ seconds ago$/)
  })

  it('closes a channel whose refreshed access token is invalid', async () => {
    const client = await clientWith(await userJwt(alice))
    const watched = watch(client, 'room:a', { private: true })
    expect((await subscribe(watched)).status).toBe('SUBSCRIBED')

    // A fresh valid token for the same user keeps the channel.
    await client.realtime.setAuth(await userJwt(alice, 7200))
    await send(`select realtime.send('{}'::jsonb, 'still_here', 'room:a', true)`)
    await until(() => watched.broadcasts[0])

    await client.realtime.setAuth(await userJwt(alice, -5))
    const closed = await until(() => watched.statuses.find((s) => s.status === 'CLOSED'))
    expect(closed.status).toBe('CLOSED')
    expect(watched.system).toEqual([
      {
        extension: 'system',
        status: 'error',
        message: expect.stringMatching(/^Token has expired \d+ seconds ago$/),
        channel: 'room:a',
      },
    ])
  })

  it('closes a private channel when the refreshed token may no longer read it', async () => {
    const client = await clientWith(await userJwt(alice))
    const watched = watch(client, 'room:a', { private: true })
    expect((await subscribe(watched)).status).toBe('SUBSCRIBED')
    await client.realtime.setAuth(await userJwt(bob))
    await until(() => watched.statuses.find((s) => s.status === 'CLOSED'))
    expect(watched.system.map((s) => s.message)).toEqual([
      'You do not have permissions to read from this Channel topic: room:a',
    ])
  })

  it('relays client broadcasts on a public channel, to self and with an ack only when asked', async () => {
    const sender = watch(await clientWith(), 'lobby', { broadcast: { self: true, ack: true } })
    const quiet = watch(await clientWith(), 'lobby')
    const listener = watch(await clientWith(), 'lobby')
    for (const w of [sender, quiet, listener]) expect((await subscribe(w)).status).toBe('SUBSCRIBED')

    expect(await sender.channel.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } })).toBe('ok')
    const expected = { type: 'broadcast', event: 'cursor', payload: { x: 1 } }
    expect(await until(() => listener.broadcasts[0])).toEqual(expected)
    expect(await until(() => sender.broadcasts[0])).toEqual(expected)

    await quiet.channel.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } })
    await until(() => listener.broadcasts[1])
    await until(() => sender.broadcasts[1])
    expect(quiet.broadcasts.map((b) => b.payload)).toEqual([{ x: 1 }])
  })

  it('relays client broadcasts on a private channel only when the insert policy allows', async () => {
    const writer = watch(await clientWith(await userJwt(alice)), 'room:v1', { private: true, broadcast: { ack: true } })
    const reader = watch(await clientWith(await userJwt(carol)), 'room:v1', { private: true, broadcast: { ack: true } })
    expect((await subscribe(writer)).status).toBe('SUBSCRIBED')
    expect((await subscribe(reader)).status).toBe('SUBSCRIBED')

    // Supabase drops a broadcast the user may not write, without an ack.
    expect(
      await reader.channel.send({ type: 'broadcast', event: 'typing', payload: { who: 'carol' } }, { timeout: 1000 }),
    ).toBe('timed out')
    expect(await writer.channel.send({ type: 'broadcast', event: 'typing', payload: { who: 'alice' } })).toBe('ok')
    await until(() => reader.broadcasts[0])
    expect(reader.broadcasts.map((b) => b.payload)).toEqual([{ who: 'alice' }])
    expect(writer.broadcasts).toEqual([])
  })

  it('speaks vsn 1.0.0 too, and converts broadcasts between the versions', async () => {
    const v1 = watch(await clientWith(await userJwt(carol), '1.0.0'), 'room:v1', { private: true })
    const v2 = watch(await clientWith(await userJwt(alice)), 'room:v1', { private: true })
    expect((await subscribe(v1)).status).toBe('SUBSCRIBED')
    expect((await subscribe(v2)).status).toBe('SUBSCRIBED')
    expect(v1.channel.socket.vsn).toBe('1.0.0')

    await send(`select realtime.send('{"from": "db"}'::jsonb, 'from_db', 'room:v1', true)`)
    expect(await until(() => v1.broadcasts[0])).toMatchObject({
      type: 'broadcast',
      event: 'from_db',
      payload: { from: 'db' },
    })
    await until(() => v2.broadcasts[0])

    // A binary (kind 3) broadcast from the vsn 2 client reaches vsn 1 as JSON.
    await v2.channel.send({ type: 'broadcast', event: 'from_v2', payload: { n: 2 } })
    expect(await until(() => v1.broadcasts[1])).toEqual({ type: 'broadcast', event: 'from_v2', payload: { n: 2 } })

    // A public channel between the versions: JSON broadcast from vsn 1 reaches vsn 2.
    const v1Public = watch(await clientWith(undefined, '1.0.0'), 'mixed')
    const v2Public = watch(await clientWith(), 'mixed')
    expect((await subscribe(v1Public)).status).toBe('SUBSCRIBED')
    expect((await subscribe(v2Public)).status).toBe('SUBSCRIBED')
    await v1Public.channel.send({ type: 'broadcast', event: 'from_v1', payload: { n: 1 } })
    expect(await until(() => v2Public.broadcasts[0])).toEqual({
      type: 'broadcast',
      event: 'from_v1',
      payload: { n: 1 },
    })
  })

  it('stops delivering after phx_leave', async () => {
    const raw = await rawSocket()
    raw.send(['1', '1', 'realtime:leaving', 'phx_join', { config: { broadcast: { self: false }, private: false } }])
    raw.send(['2', '2', 'realtime:marker', 'phx_join', { config: {} }])
    expect(await raw.next((f) => (f as unknown[])[1] === '1')).toEqual([
      '1',
      '1',
      'realtime:leaving',
      'phx_reply',
      { status: 'ok', response: { postgres_changes: [] } },
    ])
    await raw.next((f) => (f as unknown[])[1] === '2')

    await send(`select realtime.send('{"n": 1}'::jsonb, 'before', 'leaving', false)`)
    expect(await raw.next((f) => (f as unknown[])[3] === 'broadcast')).toEqual([
      null,
      null,
      'realtime:leaving',
      'broadcast',
      {
        type: 'broadcast',
        event: 'before',
        payload: expect.objectContaining({ n: 1 }),
        meta: { id: expect.any(String) },
      },
    ])

    raw.send(['1', '3', 'realtime:leaving', 'phx_leave', {}])
    expect(await raw.next((f) => (f as unknown[])[1] === '3')).toEqual([
      '1',
      '3',
      'realtime:leaving',
      'phx_reply',
      { status: 'ok', response: {} },
    ])
    await raw.next((f) => (f as unknown[])[3] === 'phx_close')

    const from = raw.frames.length
    await send(`
      select realtime.send('{"n": 2}'::jsonb, 'after', 'leaving', false);
      select realtime.send('{}'::jsonb, 'marker', 'marker', false);
    `)
    await raw.next((f) => (f as unknown[])[2] === 'realtime:marker' && (f as unknown[])[3] === 'broadcast', from)
    expect(raw.frames.slice(from).filter((f) => (f as unknown[])[2] === 'realtime:leaving')).toEqual([])
  })

  it('accepts presence and postgres_changes without hanging, and says they are not implemented', async () => {
    const client = await clientWith()
    const channel = client.channel('features')
    const system: Array<{ extension: string; status: string; message: string }> = []
    channel
      .on('postgres_changes', { event: '*', schema: 'public', table: 'anything' }, () => {})
      .on('system', {}, (message) => system.push(message))
      .on('presence', { event: 'sync' }, () => {})
    const statuses: string[] = []
    channel.subscribe((status) => statuses.push(status))
    await until(() => (statuses.includes('SUBSCRIBED') ? true : undefined))
    await until(() => system[0])
    expect(system[0]).toMatchObject({ extension: 'postgres_changes', status: 'error' })
    expect(system[0].message).toMatch(/not implemented/)
    expect(await channel.track({ online: true })).toBe('error')
  })

  it('closes its sockets on close()', async () => {
    // A second Realtime server on the same database, so closing it leaves the stack running.
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
    const realtime = attachRealtime(server, {
      db: stack.db,
      keys: stack.keys,
      url,
      root: repoRoot,
      functionEnv: {},
      log: () => {},
    })
    const raw = await RawSocket.open(`${url}/realtime/v1/websocket?apikey=${stack.keys.anonKey}&vsn=2.0.0`)
    raw.send(['1', '1', 'realtime:any', 'phx_join', { config: {} }])
    await raw.next((f) => (f as unknown[])[1] === '1')
    const closed = new Promise<number>((resolve) => raw.ws.once('close', (code) => resolve(code)))
    await realtime.close()
    expect(await closed).toBe(1001)
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
})
