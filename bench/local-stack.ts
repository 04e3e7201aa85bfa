// Local stack latency, measured with the real supabase-js on a fresh in-memory
// stack: RPC round trip, and database broadcast (realtime.send) to a subscribed
// client. Prints one JSON object. Usage: npm run bench
import { fileURLToPath } from 'node:url'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { chosenDatabase, startStack } from '../local/server.ts'
import { signLegacyJwt } from '../local/keys.ts'
import { summarize } from './latency.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300)
const WARMUP = 20

const stack = await startStack({ root: fileURLToPath(new URL('..', import.meta.url)), port: 0, db: chosenDatabase() })
try {
  const userId = crypto.randomUUID()
  await stack.db.asOwner((tx) =>
    tx.exec(`
      create schema if not exists api;
      grant usage on schema api to anon, authenticated, service_role;
      create or replace function api.bench_echo(value int) returns int language sql stable as $$ select value $$;
      grant execute on function api.bench_echo(int) to authenticated;
      create policy "bench user reads bench topic" on realtime.messages for select to authenticated
        using ((select realtime.topic()) = 'bench:${userId}' and (select auth.uid()) = '${userId}');
    `),
  )
  const jwt = await signLegacyJwt(
    stack.keys.jwtSecret,
    { sub: userId, role: 'authenticated', aud: 'authenticated' },
    3600,
  )
  const client = createClient(stack.url, stack.keys.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { Authorization: `Bearer ${jwt}` } },
    realtime: { transport: WebSocket as never },
  })

  const rpc: number[] = []
  for (let i = 0; i < ROUNDS + WARMUP; i++) {
    const t0 = performance.now()
    const { data, error } = await client.schema('api').rpc('bench_echo', { value: i })
    const t1 = performance.now()
    if (error || data !== i) throw new Error(`rpc failed: ${error?.message ?? data}`)
    if (i >= WARMUP) rpc.push(t1 - t0)
  }

  await client.realtime.setAuth(jwt)
  const pending = new Map<number, number>()
  const broadcast: number[] = []
  let resolveNext: (() => void) | undefined
  const channel = client.channel(`bench:${userId}`, { config: { private: true } })
  channel.on('broadcast', { event: 'tick' }, (message) => {
    const seq = Number((message.payload as { seq: number }).seq)
    const sent = pending.get(seq)
    if (sent !== undefined && seq >= WARMUP) broadcast.push(performance.now() - sent)
    resolveNext?.()
  })
  await new Promise<void>((resolve, reject) =>
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve()
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(err ?? new Error(status))
    }),
  )
  for (let seq = 0; seq < ROUNDS + WARMUP; seq++) {
    const delivered = new Promise<void>((resolve) => (resolveNext = resolve))
    pending.set(seq, performance.now())
    await stack.db.asOwner((tx) =>
      tx.query(`select realtime.send(jsonb_build_object('seq', $1::int), 'tick', $2, true)`, [seq, `bench:${userId}`]),
    )
    await Promise.race([delivered, new Promise((r) => setTimeout(r, 2000))])
  }
  await client.removeAllChannels()

  console.log(
    JSON.stringify(
      {
        bench: 'local-stack',
        database: await stack.db.engine(),
        node: process.version,
        rounds: ROUNDS,
        rpc_round_trip: summarize(rpc, 3),
        db_broadcast_to_client: { ...summarize(broadcast, 3), lost: ROUNDS - broadcast.length },
      },
      null,
      2,
    ),
  )
} finally {
  await stack.close()
}
