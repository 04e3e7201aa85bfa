// The hot SQL functions on a native PostgreSQL (15 by default, as CI installs it): cost per
// call inside the database, with an empty month and at volume, one and four clients.
//
// A throwaway cluster (bench/pg-cluster.ts) gets local/platform.sql, the migrations and the
// seed, then bench/sql/fixture.sql (the demo tenant on a large paid plan, the inbound rate
// limit off). Each function is driven by pgbench for BENCH_SECONDS (5) per client count,
// over 127.0.0.1, as the service role (list_conversations as the demo admin):
//   ingest_message      a new web chat message in one of 10,000 threads (store + answer)
//   claim_complete      api.claim_jobs of one agent job, then api.complete_job
//   context             api.get_agent_context of a random conversation
//   record_reply        api.record_reply to a random conversation
//   search_knowledge    hybrid (full text + a 1536-dim embedding), the big tenant; and
//   search_small        the same for one of the small tenants
//   list_conversations  the first page of the portal's inbox, as the signed-in admin
// Then bench/sql/volume.sql fills, set-based: the demo tenant with BENCH_MESSAGES
// (1,000,000) messages this month in 10,000 threads, 500,000 model calls and 50,000 audit
// entries; BENCH_SMALL_TENANTS (1,000) tenants with 100 chunks each and BENCH_BIG_CHUNKS
// (100,000) chunks in the demo tenant; and everything runs again.
//
// Prints one JSON object: p50/p95 per call and calls per second for each function, state
// and client count; the goals of issue 11 met or not; and the same figures measured before
// the flat-cost change (bench/sql-before.json, written by `--save-before` from a checkout
// of that commit: `npm run bench:sql -- --project <checkout> --save-before`).
// Usage: npm run bench:sql   (PG_BIN, BENCH_SECONDS, BENCH_MESSAGES, BENCH_BIG_CHUNKS,
// BENCH_SMALL_TENANTS; --only-empty skips the fill)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startPgCluster, type PgCluster } from './pg-cluster.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const PROJECT = resolve(option('--project') ?? join(HERE, '..'))
const SAVE_BEFORE = args.includes('--save-before')
const ONLY_EMPTY = args.includes('--only-empty')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const VOLUME = {
  conversations: 10_000,
  messages: Number(process.env.BENCH_MESSAGES ?? 1_000_000),
  usage_events: Math.round(Number(process.env.BENCH_MESSAGES ?? 1_000_000) / 2),
  audit_rows: 50_000,
  small_tenants: Number(process.env.BENCH_SMALL_TENANTS ?? 1000),
  small_chunks: 100,
  big_chunks: Number(process.env.BENCH_BIG_CHUNKS ?? 100_000),
}
const CLIENTS = [1, 4]

// The demo tenant of supabase/seed.sql.
const TENANT = '10000000-0000-4000-8000-000000000001'
const AGENT = '20000000-0000-4000-8000-000000000001'
const CONNECTION = '30000000-0000-4000-8000-000000000001'
const ADMIN = '00000000-0000-4000-8000-000000000001'

interface Figures {
  calls: number
  per_second: number
  p50_ms: number
  p95_ms: number
}
type StateResults = Record<string, Record<string, Figures>>

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

function scripts(state: { conversations: number; smallTenants: number }): Record<string, string> {
  const claims = JSON.stringify({ sub: ADMIN, role: 'authenticated' })
  const all: Record<string, string> = {
    ingest_message: `\\set t random(1, 10000)
select api.ingest_message('${CONNECTION}', gen_random_uuid()::text, 'bench-' || :t, 'user-' || :t,
  'Hello, where is my parcel?', 'Customer ' || :t);`,
    claim_complete: `select api.complete_job('agent_jobs', j.job_id, (j.job ->> 'tenant_id')::uuid)
from api.claim_jobs('agent_jobs', 1, 60) j;`,
    context: `\\set c random(1, ${state.conversations})
select api.get_agent_context('${TENANT}', (select b.id from bench.conversations b where b.i = :c)) is not null;`,
    record_reply: `\\set c random(1, ${state.conversations})
select api.record_reply('${TENANT}', (select b.id from bench.conversations b where b.i = :c),
  'Your parcel left our store today.', gen_random_uuid()::text);`,
    search_knowledge: `\\set q random(1, 100)
select count(*) from bench.queries b, api.search_knowledge('${TENANT}', b.question, b.embedding, 5) k where b.i = :q;`,
    search_small: `\\set q random(1, 100)
\\set s random(1, ${Math.max(state.smallTenants, 1)})
select count(*) from bench.queries b, bench.tenants t, api.search_knowledge(t.id, b.question, b.embedding, 5) k
where b.i = :q and t.i = :s;`,
    list_conversations: `begin;
set local role authenticated;
select set_config('request.jwt.claims', '${claims}', true);
select count(*) from api.list_conversations('${TENANT}');
end;`,
  }
  if (state.smallTenants === 0) delete all.search_small
  return all
}

function pgbench(cluster: PgCluster, work: string, name: string, script: string, clients: number): Figures {
  const file = join(work, `${name}.sql`)
  writeFileSync(file, script)
  const prefix = join(work, `${name}-${clients}`)
  const role = name === 'list_conversations' ? {} : { PGOPTIONS: '-c role=service_role' }
  const result = spawnSync(
    join(cluster.bin, 'pgbench'),
    [
      '-n',
      '-f',
      file,
      '-c',
      String(clients),
      '-j',
      String(Math.min(clients, 2)),
      '-T',
      String(SECONDS),
      '-l',
      `--log-prefix=${prefix}`,
      '-r',
    ],
    { encoding: 'utf8', env: { ...cluster.env, ...role }, cwd: work },
  )
  if (result.status !== 0) throw new Error(`pgbench ${name} failed: ${result.stderr}\n${result.stdout}`)
  const tps = Number(/tps = ([0-9.]+) \(without initial connection time\)/.exec(result.stdout)?.[1] ?? NaN)
  const latencies: number[] = []
  for (const log of readdirSync(work).filter((f) => f.startsWith(`${name}-${clients}.`))) {
    for (const line of readFileSync(join(work, log), 'utf8').split('\n')) {
      const fields = line.split(' ')
      if (fields.length >= 3) latencies.push(Number(fields[2]) / 1000)
    }
    rmSync(join(work, log))
  }
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
  return { calls: latencies.length, per_second: round(tps, 1), p50_ms: round(at(0.5), 3), p95_ms: round(at(0.95), 3) }
}

function measure(cluster: PgCluster, work: string, label: string): StateResults {
  const count = (sql: string) => Number(cluster.psql(['-At', '-c', sql]).trim())
  const results: StateResults = {}
  const run = (name: string, script: string) => {
    results[name] = {}
    for (const clients of CLIENTS) {
      results[name][`clients_${clients}`] = pgbench(cluster, work, name, script, clients)
      process.stderr.write(
        `bench:sql ${label} ${name} x${clients}: ${JSON.stringify(results[name][`clients_${clients}`])}\n`,
      )
    }
  }
  const smallTenants = count('select count(*) from bench.tenants')
  run('ingest_message', scripts({ conversations: 1, smallTenants })['ingest_message']!)
  cluster.psql([
    '-c',
    `truncate bench.conversations;
     insert into bench.conversations (i, id)
     select row_number() over (order by c.thread_key), c.id from app.conversations c
     where c.connection_id = '${CONNECTION}';`,
  ])
  const conversations = count('select count(*) from bench.conversations')
  const all = scripts({ conversations, smallTenants })
  // Enough agent jobs for every claim of both runs (the queue is FIFO: ingest's own jobs first).
  cluster.psql([
    '-c',
    `select pgmq.send_batch('agent_jobs', array(select jsonb_build_object('kind', 'bench', 'tenant_id', '${TENANT}')
       from generate_series(1, ${Math.max(20_000, SECONDS * 8_000)})))`,
  ])
  for (const [name, script] of Object.entries(all)) {
    if (name !== 'ingest_message') run(name, script)
  }
  return results
}

// After four clients wrote at once: do the usage counters equal what the raw rows say?
function countersMatchHistory(cluster: PgCluster): boolean | null {
  const exists = cluster.psql(['-At', '-c', `select to_regproc('app.usage_from_history') is not null`]).trim()
  if (exists !== 't') return null
  const differing = cluster.psql([
    '-At',
    '-c',
    `select count(*) from (
       (select period_start, messages, tokens, cost_usd from app.tenant_usage where tenant_id = '${TENANT}'
        except select period_start, messages, tokens, cost_usd from app.usage_from_history('${TENANT}') where agent_id is null)
       union all
       (select period_start, messages, tokens, cost_usd from app.usage_from_history('${TENANT}') where agent_id is null
        except select period_start, messages, tokens, cost_usd from app.tenant_usage where tenant_id = '${TENANT}')) d`,
  ])
  return Number(differing.trim()) === 0
}

function goals(empty: StateResults, volume: StateResults | null) {
  const ingest1 = (r: StateResults | null) => r?.ingest_message?.clients_1
  const ingest4 = (r: StateResults | null) => r?.ingest_message?.clients_4
  const list: { goal: string; target: string; value: number | null; met: boolean | null }[] = []
  const add = (goal: string, target: string, value: number | undefined | null, ok: (v: number) => boolean) =>
    list.push({
      goal,
      target,
      value: value == null || Number.isNaN(value) ? null : round(value, 3),
      met: value == null || Number.isNaN(value) ? null : ok(value),
    })
  add('ingest_message p50, one client, empty (ms)', '<= 1.5', ingest1(empty)?.p50_ms, (v) => v <= 1.5)
  add('ingest_message p50, one client, at volume (ms)', '<= 1.5', ingest1(volume)?.p50_ms, (v) => v <= 1.5)
  add('ingest_message per second, four clients, empty', '>= 1000', ingest4(empty)?.per_second, (v) => v >= 1000)
  add('ingest_message per second, four clients, at volume', '>= 1000', ingest4(volume)?.per_second, (v) => v >= 1000)
  const p50Ratio = ingest1(volume) && ingest1(empty) ? ingest1(volume)!.p50_ms / ingest1(empty)!.p50_ms : null
  add('ingest_message p50 at volume / empty, one client', '<= 1.2', p50Ratio, (v) => v <= 1.2)
  const tpsRatio = ingest4(volume) && ingest4(empty) ? ingest4(empty)!.per_second / ingest4(volume)!.per_second : null
  add('ingest_message throughput empty / at volume, four clients', '<= 1.2', tpsRatio, (v) => v <= 1.2)
  add(
    `hybrid search p95 at ${VOLUME.big_chunks.toLocaleString('en')} chunks, one client (ms)`,
    '<= 20',
    volume?.search_knowledge?.clients_1?.p95_ms,
    (v) => v <= 20,
  )
  return list
}

const started = performance.now()
const work = mkdtempSync(join(tmpdir(), 'konstruct-bench-sql-'))
// Commits do not wait for the WAL flush: this measures the work in the database, not this
// machine's disk (a shared VM's fsync takes 5-15 ms).
const cluster = await startPgCluster({ settings: { synchronous_commit: 'off' } })
try {
  cluster.psql(['-f', join(PROJECT, 'local/platform.sql')])
  const migrations = readdirSync(join(PROJECT, 'supabase/migrations'))
    .filter((f) => f.endsWith('.sql'))
    .sort()
  for (const file of migrations) cluster.psql(['-1', '-f', join(PROJECT, 'supabase/migrations', file)])
  if (existsSync(join(PROJECT, 'supabase/seed.sql'))) cluster.psql(['-1', '-f', join(PROJECT, 'supabase/seed.sql')])
  cluster.psql(['-1', '-v', `tenant=${TENANT}`, '-f', join(HERE, 'sql/fixture.sql')])
  cluster.psql(['-c', 'vacuum analyze'])

  const empty = measure(cluster, work, 'empty')
  const exact: Record<string, boolean | null> = { empty: countersMatchHistory(cluster) }
  let volume: StateResults | null = null
  let fillSeconds: number | null = null
  if (!ONLY_EMPTY) {
    const fillStarted = performance.now()
    cluster.psql([
      ...Object.entries({ tenant: TENANT, agent: AGENT, connection: CONNECTION, ...VOLUME }).flatMap(([k, v]) => [
        '-v',
        `${k}=${v}`,
      ]),
      '-f',
      join(HERE, 'sql/volume.sql'),
    ])
    fillSeconds = round((performance.now() - fillStarted) / 1000, 1)
    volume = measure(cluster, work, 'volume')
    exact.volume = countersMatchHistory(cluster)
  }

  const measured = { empty, volume }
  const beforeFile = join(HERE, 'sql-before.json')
  if (SAVE_BEFORE) {
    const commit = spawnSync('git', ['-C', PROJECT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim()
    writeFileSync(
      beforeFile,
      JSON.stringify(
        { measured_at: new Date().toISOString(), project: commit || PROJECT, server: cluster.version, ...measured },
        null,
        2,
      ) + '\n',
    )
  }
  const before = existsSync(beforeFile) ? JSON.parse(readFileSync(beforeFile, 'utf8')) : null
  const goalsNow = goals(empty, volume)
  const goalsBefore = before ? goals(before.empty, before.volume) : []
  console.log(
    JSON.stringify(
      {
        bench: 'sql',
        server: `PostgreSQL ${cluster.version}`,
        settings: { synchronous_commit: 'off' },
        machine: { cpus: cpus().length, loadavg_1m: round(loadavg()[0]!, 2) },
        seconds_per_run: SECONDS,
        volume: { ...VOLUME, fill_seconds: fillSeconds },
        goals: goalsNow.map((g, i) => ({ ...g, before: goalsBefore[i]?.value ?? null })),
        usage_counters_match_raw_rows: exact,
        now: measured,
        before,
        total_seconds: round((performance.now() - started) / 1000, 1),
      },
      null,
      2,
    ),
  )
} finally {
  cluster.stop()
  rmSync(work, { recursive: true, force: true })
}
