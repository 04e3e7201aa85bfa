// Local Realtime under load: database broadcasts committed in a burst, interleaved
// with rolled-back ones, with private-channel joins and token refreshes (each runs an
// authorization probe that inserts into realtime.messages and rolls back), client
// broadcasts (write probes) and RPCs over HTTP. Every subscriber must get every
// committed message exactly once, in commit order, and none that was rolled back.
// Everything listens on 127.0.0.1 (the stack's only address).
import { randomUUID } from 'node:crypto'
import { createClient, type SupabaseClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { signLegacyJwt } from '../../local/keys.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'

const TOPIC = 'burst:main'
const DIRECT_SENDS = 500
const RPC_CALLS = 120
/** After the last commit, every message must have arrived within this time. */
const DELIVERY_MS = 15_000

async function until<T>(probe: () => T | undefined | false, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`${what} not met in ${ms} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A small seeded PRNG, so an interleaving that fails can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A raw Phoenix client (vsn 1.0.0 JSON objects or 2.0.0 arrays). */
class RawSocket {
  readonly frames: unknown[] = []
  private ref = 0
  private constructor(
    readonly ws: WebSocket,
    readonly vsn: '1.0.0' | '2.0.0',
  ) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(String(data)))
    })
  }

  static async open(base: string, apikey: string, vsn: '1.0.0' | '2.0.0'): Promise<RawSocket> {
    const ws = new WebSocket(`${base}/realtime/v1/websocket?apikey=${apikey}&vsn=${vsn}`)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return new RawSocket(ws, vsn)
  }

  /** Sends a message; returns its ref. */
  push(topic: string, event: string, payload: unknown, joinRef: string | null = null): string {
    const ref = String(++this.ref)
    this.ws.send(
      JSON.stringify(
        this.vsn === '2.0.0'
          ? [joinRef, ref, topic, event, payload]
          : { topic, event, payload, ref, join_ref: joinRef },
      ),
    )
    return ref
  }

  /** The normalized [topic, event, payload, ref] of every frame. */
  messages(): Array<{ topic: string; event: string; payload: any; ref: string | null }> {
    return this.frames.map((f) =>
      Array.isArray(f)
        ? { topic: f[2], event: f[3], payload: f[4], ref: f[1] }
        : (f as { topic: string; event: string; payload: any; ref: string | null }),
    )
  }

  reply(ref: string, ms = 15_000): Promise<{ status: string; response: any }> {
    return until(
      () => this.messages().find((m) => m.event === 'phx_reply' && m.ref === ref)?.payload,
      ms,
      `reply to ${ref}`,
    )
  }

  /** Joins `topic` and waits for the answer. */
  async join(topic: string, accessToken: string, isPrivate = true): Promise<{ status: string; joinRef: string }> {
    const joinRef = String(this.ref + 1)
    const ref = this.push(
      `realtime:${topic}`,
      'phx_join',
      { config: { private: isPrivate, broadcast: { self: false, ack: false } }, access_token: accessToken },
      joinRef,
    )
    return { status: (await this.reply(ref)).status, joinRef }
  }

  async leave(topic: string, joinRef: string): Promise<void> {
    await this.reply(this.push(`realtime:${topic}`, 'phx_leave', {}, joinRef))
  }

  /** Database broadcasts of `event` received on `topic`, in arrival order. */
  broadcasts(topic: string, event: string): Array<{ id: string; payload: any }> {
    return this.messages()
      .filter((m) => m.topic === `realtime:${topic}` && m.event === 'broadcast' && m.payload?.event === event)
      .map((m) => ({ id: m.payload.meta?.id, payload: m.payload.payload }))
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}

describe('local Realtime under a burst of database broadcasts', () => {
  let stack: TestStack
  const clients: SupabaseClient[] = []
  const raws: RawSocket[] = []
  const alice = randomUUID() // may read and write burst:* topics
  const mallory = randomUUID() // may read nothing
  let tokenCounter = 0

  function userJwt(sub: string): Promise<string> {
    // A distinct token every time, so a refresh is never ignored as unchanged.
    return signLegacyJwt(
      stack.keys.jwtSecret,
      { sub, role: 'authenticated', aud: 'authenticated', n: ++tokenCounter },
      3600,
    )
  }

  async function raw(vsn: '1.0.0' | '2.0.0' = '2.0.0'): Promise<RawSocket> {
    const socket = await RawSocket.open(stack.url.replace('http', 'ws'), stack.keys.anonKey, vsn)
    raws.push(socket)
    return socket
  }

  function sendSql(n: number, kind: string, topic = TOPIC): string {
    return `select realtime.send(jsonb_build_object('n', ${n}, 'kind', '${kind}'), 'burst', '${topic}', true)`
  }

  /** Committed broadcasts of `event` on `topic`, in commit order (local_seq). */
  async function committed(topic: string): Promise<Array<{ id: string; kind: string; n: number }>> {
    const { rows } = await stack.db.pg.query<{ id: string; kind: string; n: number }>(
      `select id::text, payload->>'kind' as kind, (payload->>'n')::int as n
         from realtime.messages where topic = $1 and event = 'burst' order by local_seq`,
      [topic],
    )
    return rows
  }

  beforeAll(async () => {
    stack = await startTestStack()
    await stack.db.asOwner((tx) =>
      tx.exec(`
        create schema test_burst;
        create table test_burst.readers (user_id uuid primary key);
        grant usage on schema test_burst to authenticated;
        grant select on test_burst.readers to authenticated;
        insert into test_burst.readers values ('${alice}');
        create policy "burst readers read burst topics" on realtime.messages
          for select to authenticated
          using ((select realtime.topic()) like 'burst:%'
                 and exists (select 1 from test_burst.readers r where r.user_id = (select auth.uid())));
        create policy "burst readers write burst topics" on realtime.messages
          for insert to authenticated
          with check ((select realtime.topic()) like 'burst:%'
                      and exists (select 1 from test_burst.readers r where r.user_id = (select auth.uid())));
        -- An RPC that broadcasts, and fails after broadcasting when asked (rolled back).
        create function api.test_burst_send(n int, fail boolean) returns int
        language plpgsql security definer set search_path = '' as $$
        begin
          perform realtime.send(jsonb_build_object('n', n, 'kind', case when fail then 'rolled_back' else 'rpc' end),
                                'burst', '${TOPIC}', true);
          if fail then raise exception 'test_burst_send failed on purpose'; end if;
          return n;
        end $$;
        revoke execute on function api.test_burst_send(int, boolean) from public, anon, authenticated;
        grant execute on function api.test_burst_send(int, boolean) to service_role;
      `),
    )
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.removeAllChannels()))
    await Promise.all(raws.map((r) => r.close()))
    await stack?.close()
  })

  // Runs first, while nobody is subscribed: Realtime then skips ahead without reading
  // the messages. A join whose authorization is waiting for the database while that
  // skip is decided must still get what commits after its authorization.
  it('delivers what commits right after a join that raced the skip-ahead of an idle server', async () => {
    const socket = await raw()
    const token = await userJwt(alice)
    // Several rounds: the 1 s safety poll has to land in the window being tested.
    for (let round = 0; round < 3; round++) {
      const topic = `burst:race-${round}`
      // Hold the database so the join's probe, then a broadcast, queue up behind it.
      let release!: () => void
      let holding!: () => void
      const held = new Promise<void>((r) => (holding = r))
      const holder = stack.db.asOwner(async () => {
        holding()
        await new Promise<void>((r) => (release = r))
      })
      await held
      const joinRef = String(round * 10 + 1)
      const joinReply = socket.push(
        `realtime:${topic}`,
        'phx_join',
        { config: { private: true }, access_token: token },
        joinRef,
      )
      await sleep(50) // the token is verified and the probe queued
      const broadcast = stack.db.asOwner((tx) => tx.exec(sendSql(round, 'after_join', topic)))
      await sleep(1200) // a safety poll finds nobody subscribed and queues its skip-ahead
      release()
      await holder
      await broadcast
      expect((await socket.reply(joinReply)).status).toBe('ok')
      const [row] = await committed(topic)
      await until(() => socket.broadcasts(topic, 'burst').length > 0, 5000, `round ${round} broadcast`).catch(() => {})
      expect(socket.broadcasts(topic, 'burst').map((b) => b.id)).toEqual([row.id])
      await socket.leave(topic, joinRef)
    }
  }, 30_000)

  it('delivers every committed broadcast once, in commit order, none rolled back, while channels join and RPCs run', async () => {
    const random = prng(Number(process.env.BURST_SEED ?? 20261126))
    const aliceToken = await userJwt(alice)

    // The subscribers: supabase-js as the portal uses it, and raw sockets of both versions.
    const client = createClient(stack.url, stack.keys.anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor },
    })
    clients.push(client)
    await client.realtime.setAuth(aliceToken)
    const jsReceived: Array<{ id: string | undefined; payload: any }> = []
    const channel = client
      .channel(TOPIC, { config: { private: true } })
      .on('broadcast', { event: 'burst' }, (m) => jsReceived.push({ id: m.meta?.id, payload: m.payload }))
    const jsStatus = await new Promise<string>((resolve) => channel.subscribe((status) => resolve(status)))
    expect(jsStatus).toBe('SUBSCRIBED')
    const v1 = await raw('1.0.0')
    const v2 = await raw('2.0.0')
    expect((await v1.join(TOPIC, aliceToken)).status).toBe('ok')
    expect((await v2.join(TOPIC, aliceToken)).status).toBe('ok')

    const started = Date.now()
    let stopChurn = false
    /** Order in which the direct sends committed (the database is one serialized connection). */
    const commitOrder: number[] = []
    let next = 0
    let rolledBack = 0

    // Writers: each realtime.send in its own transaction, as owner or as service_role,
    // with rolled-back transactions (thrown, failed SQL, rolled-back savepoint) in between.
    const writer = async () => {
      for (;;) {
        const n = next++
        if (n >= DIRECT_SENDS) return
        const r = random()
        if (r < 0.15) {
          rolledBack++
          await expect(
            stack.db.asOwner(async (tx) => {
              await tx.exec(sendSql(-1, 'rolled_back'))
              throw new Error('abort')
            }),
          ).rejects.toThrow('abort')
        } else if (r < 0.25) {
          rolledBack++
          await expect(
            stack.db.asRequest({ role: 'service_role' }, (tx) =>
              tx.exec(`${sendSql(-1, 'rolled_back')}; select 1 / 0`),
            ),
          ).rejects.toThrow(/division by zero/)
        }
        const viaRequest = random() < 0.5
        const savepoint = random() < 0.1
        const work = async (tx: { exec(sql: string): Promise<unknown> }) => {
          if (savepoint) {
            rolledBack++
            await tx.exec(`savepoint s; ${sendSql(-1, 'rolled_back')}; rollback to savepoint s`)
          }
          await tx.exec(sendSql(n, 'direct'))
          commitOrder.push(n) // the last step before COMMIT
        }
        if (viaRequest) await stack.db.asRequest({ role: 'service_role' }, work)
        else await stack.db.asOwner(work)
        if (random() < 0.3) await new Promise((r) => setImmediate(r))
      }
    }

    // RPCs over HTTP (PostgREST's path), a quarter of them failing after broadcasting.
    const service = stack.serviceClient()
    let rpcNext = 0
    const rpcOk: number[] = []
    const rpcCaller = async () => {
      for (;;) {
        const n = rpcNext++
        if (n >= RPC_CALLS) return
        const fail = n % 4 === 3
        const { data, error } = await service.rpc('test_burst_send', { n: 10_000 + n, fail })
        if (fail) {
          rolledBack++
          expect(error?.message).toBe('test_burst_send failed on purpose')
        } else {
          expect(error).toBeNull()
          expect(data).toBe(10_000 + n)
          rpcOk.push(10_000 + n)
        }
      }
    }

    // Churn: private joins (read probes), token refreshes (read probes again), client
    // broadcasts (write probes), refused joins, and leaves, on the burst topic and others.
    let joins = 0
    const churner = async (index: number) => {
      const socket = await raw(index % 2 === 0 ? '2.0.0' : '1.0.0')
      while (!stopChurn) {
        const topic = random() < 0.6 ? TOPIC : `burst:side-${index}`
        const { status, joinRef } = await socket.join(topic, await userJwt(alice))
        joins++
        expect(status).toBe('ok')
        if (random() < 0.5) {
          socket.push(`realtime:${topic}`, 'access_token', { access_token: await userJwt(alice) }, joinRef)
        }
        if (random() < 0.5) {
          socket.push(`realtime:${topic}`, 'broadcast', { type: 'broadcast', event: 'chatter', payload: {} }, joinRef)
        }
        await socket.leave(topic, joinRef)
        const refused = await socket.join(topic, await userJwt(mallory))
        joins++
        expect(refused.status).toBe('error')
      }
    }

    const churn = Promise.all([0, 1, 2].map((i) => churner(i)))
    await Promise.all([writer(), writer(), writer(), writer(), rpcCaller(), rpcCaller()])
    const lastCommit = Date.now()
    stopChurn = true
    await churn

    const expected = await committed(TOPIC)
    expect(expected.filter((m) => m.kind === 'rolled_back')).toEqual([])
    expect(expected.filter((m) => m.kind === 'direct').map((m) => m.n)).toEqual(commitOrder)
    expect(expected.length).toBe(DIRECT_SENDS + rpcOk.length)
    const expectedIds = expected.map((m) => m.id)

    const subscribers = {
      'supabase-js': () => jsReceived,
      'raw vsn 1.0.0': () => v1.broadcasts(TOPIC, 'burst'),
      'raw vsn 2.0.0': () => v2.broadcasts(TOPIC, 'burst'),
    }
    for (const [name, received] of Object.entries(subscribers)) {
      await until(() => received().length >= expectedIds.length, DELIVERY_MS - (Date.now() - lastCommit), name).catch(
        () => {},
      )
      const ids = received().map((m) => m.id)
      const missing = expectedIds.filter((id) => !ids.includes(id))
      const extra = ids.filter((id) => id === undefined || !expectedIds.includes(id))
      expect({ name, missing, extra }).toEqual({ name, missing: [], extra: [] })
      expect(ids).toEqual(expectedIds) // exactly once, in commit order
      expect(received().filter((m) => m.payload?.kind === 'rolled_back')).toEqual([])
    }
    const delivered = Date.now()
    // Nothing late or doubled arrives after a quiet moment.
    await sleep(1200)
    expect(jsReceived.length).toBe(expectedIds.length)
    expect(v1.broadcasts(TOPIC, 'burst').length).toBe(expectedIds.length)
    expect(v2.broadcasts(TOPIC, 'burst').length).toBe(expectedIds.length)
    console.log(
      `realtime burst: ${expectedIds.length} committed, ${rolledBack} rolled back, ${joins} joins; ` +
        `writes ${lastCommit - started} ms, last delivery ${delivered - lastCommit} ms after the last commit`,
    )
  }, 120_000)
})
