// The hot SQL functions on a native PostgreSQL (15 by default, as CI installs it): cost per
// call inside the database, with an empty month and at volume, one and four clients.
//
// A throwaway cluster (local/postgres.ts) gets local/platform.sql, the migrations and the
// seed (of --project, by default this checkout), then bench/sql/fixture.sql (the demo tenant on a large paid plan, the inbound rate
// limit off). Each function is driven by pgbench for BENCH_SECONDS (5) per client count,
// after BENCH_WARM_SECONDS (2; the search at volume BENCH_SEARCH_WARM_SECONDS, 20) of its
// sessions' warm-up, over 127.0.0.1, as the service role (list_conversations as the demo admin):
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
// Usage: npm run bench:sql   (KONSTRUCT_PG_BIN, BENCH_SECONDS, BENCH_WARM_SECONDS,
// BENCH_SEARCH_WARM_SECONDS, BENCH_MESSAGES, BENCH_BIG_CHUNKS, BENCH_SMALL_TENANTS; --only-empty skips the fill; --only a,b runs those functions besides ingest_message)
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startPostgres } from '../local/postgres.ts'
import { percentile } from './latency.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const PROJECT = resolve(option('--project') ?? join(HERE, '..'))
const SAVE_BEFORE = args.includes('--save-before')
const ONLY_EMPTY = args.includes('--only-empty')
// --only ingest_message,context: just those functions (ingest_message always runs: it fills the conversations).
const ONLY = option('--only')?.split(',')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
// pgbench's sessions are new; production's (PostgREST's pool) live long. Each run's first
// seconds are their warm-up, reported apart. A new session pays for every page of shared
// memory it touches for the first time (a minor page fault, about 40 us on these VMs): a
// search at volume touches a few thousand pages of the 1.5 GB HNSW graph a call, so its
// sessions take tens of seconds to reach what a pooled connection does.
const WARM_SECONDS = Number(process.env.BENCH_WARM_SECONDS ?? 2)
const SEARCH_WARM_SECONDS = Number(process.env.BENCH_SEARCH_WARM_SECONDS ?? 20)
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

// psql and pgbench of the server's own installation, against its 127.0.0.1 port. Run
// asynchronously: the server's log is read by this process's event loop (local/postgres.ts),
// and a blocked loop would block a server process writing to it.
interface PgCluster {
  bin: string
  version: string
  env: NodeJS.ProcessEnv
  psql(args: string[]): Promise<string>
}

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)))
    child.once('error', reject)
    child.once('close', (status) => resolve({ status, stdout, stderr }))
  })
}

async function client(bin: string, port: number): Promise<PgCluster> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: 'postgres',
    PGDATABASE: 'postgres',
    PGAPPNAME: 'konstruct-bench-sql',
  }
  for (const key of ['PGPASSWORD', 'PGSERVICE', 'PGOPTIONS']) delete env[key]
  const psql = async (args: string[]) => {
    const result = await run(join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args], env)
    if (result.status !== 0) throw new Error(`psql ${args.join(' ')} failed: ${result.stderr}`)
    return result.stdout
  }
  return { bin, env, psql, version: (await psql(['-At', '-c', 'show server_version'])).trim() }
}

/** calls, per_second, p50 and p95 are the measured seconds', after the sessions' warm-up. */
interface Figures {
  calls: number
  per_second: number
  p50_ms: number
  p95_ms: number
  /** Mean time inside the database per call (track_functions), without the client round trip;
   * over every call, the warm-up's too. */
  in_db_mean_ms?: number
  /** Per call, from pg_stat_statements (when the server has it): shared buffers read or hit,
   * and WAL records written, over every call. Counts of work, so they compare across runs on a
   * busy machine. */
  buffers_per_call?: number
  wal_records_per_call?: number
  /** The new sessions' first seconds, not measured above: what a new connection pays. */
  warm_up: { seconds: number; calls: number; p95_ms: number }
}

// The api functions each script calls, for the in-database time.
const FUNCTIONS: Record<string, string[]> = {
  ingest_message: ['ingest_message'],
  claim_complete: ['claim_jobs', 'complete_job'],
  context: ['get_agent_context'],
  record_reply: ['record_reply'],
  search_knowledge: ['search_knowledge'],
  search_small: ['search_knowledge'],
  list_conversations: ['list_conversations'],
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

async function pgbench(
  cluster: PgCluster,
  work: string,
  name: string,
  script: string,
  clients: number,
  warm: number,
): Promise<Figures> {
  const file = join(work, `${name}.sql`)
  writeFileSync(file, script)
  const prefix = join(work, `${name}-${clients}`)
  const role = name === 'list_conversations' ? {} : { PGOPTIONS: '-c role=service_role' }
  await cluster.psql(['-c', `select pg_stat_reset()${STATEMENTS ? ', extensions.pg_stat_statements_reset()' : ''}`])
  const result = await run(
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
      String(warm + SECONDS),
      '-l',
      `--log-prefix=${prefix}`,
      '-r',
    ],
    { ...cluster.env, ...role },
  )
  if (result.status !== 0) throw new Error(`pgbench ${name} failed: ${result.stderr}\n${result.stdout}`)
  // Each log line: client, transaction, latency (us), script, end time (s, us). The calls
  // that began in the first `warm` seconds are the sessions' warm-up, not measured.
  const calls: { began: number; ms: number }[] = []
  for (const log of readdirSync(work).filter((f) => f.startsWith(`${name}-${clients}.`))) {
    for (const line of readFileSync(join(work, log), 'utf8').split('\n')) {
      const fields = line.split(' ').map(Number)
      if (fields.length >= 6) calls.push({ began: fields[4]! * 1e6 + fields[5]! - fields[2]!, ms: fields[2]! / 1000 })
    }
    rmSync(join(work, log))
  }
  const start = calls.reduce((first, c) => Math.min(first, c.began), Infinity)
  const warmUp = calls.filter((c) => c.began < start + warm * 1e6).map((c) => c.ms)
  const latencies = calls.filter((c) => c.began >= start + warm * 1e6).map((c) => c.ms)
  const tps = latencies.length / SECONDS
  // The script's own statements (pgbench's sessions), before this process queries anything else.
  const [buffers, wal] = STATEMENTS
    ? (
        await cluster.psql([
          '-At',
          '-F',
          ' ',
          '-c',
          `select sum(shared_blks_hit + shared_blks_read), sum(wal_records) from extensions.pg_stat_statements
           where toplevel and query not like '%pg_stat%'`,
        ])
      )
        .trim()
        .split(' ')
        .map(Number)
    : [NaN, NaN]
  // pgbench's sessions have ended, so their function statistics are flushed.
  const names = (FUNCTIONS[name] ?? []).map((f) => `'${f}'`).join(', ')
  const inDb = Number(
    (
      await cluster.psql([
        '-At',
        '-c',
        `select sum(total_time) / nullif(max(calls) filter (where funcname = ${names.split(', ')[0]}), 0)
         from pg_stat_user_functions where schemaname = 'api' and funcname in (${names})`,
      ])
    ).trim(),
  )
  return {
    calls: latencies.length,
    per_second: round(tps, 1),
    p50_ms: round(percentile(latencies, 0.5), 3),
    p95_ms: round(percentile(latencies, 0.95), 3),
    in_db_mean_ms: Number.isFinite(inDb) && inDb > 0 ? round(inDb, 3) : undefined,
    buffers_per_call: Number.isFinite(buffers) && calls.length ? round(buffers! / calls.length, 1) : undefined,
    wal_records_per_call: Number.isFinite(wal) && calls.length ? round(wal! / calls.length, 1) : undefined,
    warm_up: { seconds: warm, calls: warmUp.length, p95_ms: round(percentile(warmUp, 0.95), 3) },
  }
}

async function measure(cluster: PgCluster, work: string, label: string): Promise<StateResults> {
  const count = async (sql: string) => Number((await cluster.psql(['-At', '-c', sql])).trim())
  const results: StateResults = {}
  const drive = async (name: string, script: string) => {
    results[name] = {}
    for (const clients of CLIENTS) {
      const warm = label === 'volume' && name.startsWith('search') ? SEARCH_WARM_SECONDS : WARM_SECONDS
      results[name][`clients_${clients}`] = await pgbench(cluster, work, name, script, clients, warm)
      process.stderr.write(
        `bench:sql ${label} ${name} x${clients}: ${JSON.stringify(results[name][`clients_${clients}`])}\n`,
      )
    }
  }
  const smallTenants = await count('select count(*) from bench.tenants')
  await drive('ingest_message', scripts({ conversations: 1, smallTenants })['ingest_message']!)
  await cluster.psql([
    '-c',
    `truncate bench.conversations;
     insert into bench.conversations (i, id)
     select row_number() over (order by c.thread_key), c.id from app.conversations c
     where c.connection_id = '${CONNECTION}';`,
  ])
  // The ingests grew app.conversations and app.messages from nothing to thousands of rows:
  // autovacuum analyzes a table once a tenth of it has changed, so a live database has these
  // statistics within a minute. Without them the inbox's page plans for empty tables.
  await cluster.psql(['-c', 'analyze'])
  const conversations = await count('select count(*) from bench.conversations')
  const all = scripts({ conversations, smallTenants })
  // Enough agent jobs for every claim of both runs (the queue is FIFO: ingest's own jobs first).
  await cluster.psql([
    '-c',
    `select pgmq.send_batch('agent_jobs', array(select jsonb_build_object('kind', 'bench', 'tenant_id', '${TENANT}')
       from generate_series(1, ${Math.max(20_000, (WARM_SECONDS + SECONDS) * 8_000)})))`,
  ])
  for (const [name, script] of Object.entries(all)) {
    if (name !== 'ingest_message' && (!ONLY || ONLY.includes(name))) await drive(name, script)
  }
  return results
}

// After four clients wrote at once: do the usage counters (their slots summed) equal what the raw rows say?
async function countersMatchHistory(cluster: PgCluster): Promise<boolean | null> {
  const exists = (await cluster.psql(['-At', '-c', `select to_regproc('app.usage_from_history') is not null`])).trim()
  if (exists !== 't') return null
  const differing = await cluster.psql([
    '-At',
    '-c',
    `select count(*) from (
       (select period_start, sum(messages), sum(tokens), sum(cost_usd) from app.tenant_usage
        where tenant_id = '${TENANT}' group by period_start
        except select period_start, messages, tokens, cost_usd from app.usage_from_history('${TENANT}') where agent_id is null)
       union all
       (select period_start, messages, tokens, cost_usd from app.usage_from_history('${TENANT}') where agent_id is null
        except select period_start, sum(messages), sum(tokens), sum(cost_usd) from app.tenant_usage
        where tenant_id = '${TENANT}' group by period_start)) d`,
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
// machine's disk (a shared VM's fsync takes 5-15 ms). shared_buffers is a quarter of the
// machine's memory, PostgreSQL's advice for a dedicated server (Supabase's compute sizes
// grow it with memory too): with the default 128 MB, the search's 1.5 GB HNSW graph is read
// through the kernel's cache on every call. Otherwise the server's defaults.
const SETTINGS = {
  synchronous_commit: 'off',
  fsync: 'on',
  full_page_writes: 'on',
  jit: 'on',
  track_functions: 'pl',
  shared_buffers: `${Math.floor(totalmem() / 4 / 2 ** 20)}MB`,
}
// pg_stat_statements (a contrib module of the server's own installation, when present) counts
// each call's buffers and WAL records.
const PG_BIN = process.env.KONSTRUCT_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const STATEMENTS = existsSync(join(PG_BIN, '../lib/pg_stat_statements.so'))
const server = await startPostgres({
  root: join(HERE, '..'),
  schema: false,
  settings: STATEMENTS ? { ...SETTINGS, shared_preload_libraries: 'pg_stat_statements' } : SETTINGS,
})
try {
  const cluster = await client(PG_BIN, server.port)
  await cluster.psql(['-f', join(PROJECT, 'local/platform.sql')])
  if (STATEMENTS) await cluster.psql(['-c', 'create extension pg_stat_statements with schema extensions'])
  const migrations = readdirSync(join(PROJECT, 'supabase/migrations'))
    .filter((f) => f.endsWith('.sql'))
    .sort()
  for (const file of migrations) await cluster.psql(['-1', '-f', join(PROJECT, 'supabase/migrations', file)])
  if (existsSync(join(PROJECT, 'supabase/seed.sql')))
    await cluster.psql(['-1', '-f', join(PROJECT, 'supabase/seed.sql')])
  await cluster.psql(['-1', '-v', `tenant=${TENANT}`, '-f', join(HERE, 'sql/fixture.sql')])
  // No VACUUM or ANALYZE of the empty database: as `supabase db push` leaves it, its tables have
  // never been vacuumed, so the planner assumes a new table may grow (at least 10 pages) and
  // uses its indexes. A VACUUM here recorded app.messages, app.conversations and app.contacts
  // as empty, and each pgbench session kept the plans it made then (PL/pgSQL's and the
  // foreign key checks'): sequential scans of tables that grew to thousands of rows during the
  // run, about half of every ingest's buffer reads. volume.sql analyzes what it fills.

  const empty = await measure(cluster, work, 'empty')
  const exact: Record<string, boolean | null> = { empty: await countersMatchHistory(cluster) }
  let volume: StateResults | null = null
  let fillSeconds: number | null = null
  if (!ONLY_EMPTY) {
    const fillStarted = performance.now()
    await cluster.psql([
      ...Object.entries({ tenant: TENANT, agent: AGENT, connection: CONNECTION, ...VOLUME }).flatMap(([k, v]) => [
        '-v',
        `${k}=${v}`,
      ]),
      '-f',
      join(HERE, 'sql/volume.sql'),
    ])
    fillSeconds = round((performance.now() - fillStarted) / 1000, 1)
    volume = await measure(cluster, work, 'volume')
    exact.volume = await countersMatchHistory(cluster)
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
        settings: SETTINGS,
        machine: { cpus: cpus().length, loadavg_1m: round(loadavg()[0]!, 2) },
        seconds_per_run: SECONDS,
        warm_up_seconds: { default: WARM_SECONDS, search_at_volume: SEARCH_WARM_SECONDS },
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
  await server.stop()
  rmSync(work, { recursive: true, force: true })
}
