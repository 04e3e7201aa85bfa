// The local Postgres: one PGlite instance owned by this process (the default), or a
// native PostgreSQL server reached by URL, with Supabase's extensions, the platform
// shim, the project's migrations and its seed.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { pgmq } from '@electric-sql/pglite-pgmq'
import { pgtap } from '@electric-sql/pglite-pgtap'
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto'
import { PoolDatabase, quoteLiteral, type Database, type Transaction } from './pool.ts'

export type { Database, Transaction }

/** The JWT claims a request runs with; `role` picks the Postgres role. */
export interface Claims {
  role: string
  sub?: string
  [claim: string]: unknown
}

export interface RequestContext {
  headers?: Record<string, string>
  method?: string
  path?: string
  /** More settings for the transaction, e.g. search_path. */
  settings?: Record<string, string>
  /** A SQL expression evaluated first, as the owner (e.g. a check that raises). */
  guard?: string
}

export interface OpenOptions {
  /** Directory of the repository (holds supabase/ and local/). */
  root: string
  /** File-backed data directory; omitted means in memory. */
  dataDir?: string
  /**
   * A native PostgreSQL server (postgres://…, database `postgres`, as a superuser)
   * instead of PGlite; dataDir is then ignored.
   */
  url?: string
  /** Connections to a native server (default $KONSTRUCT_DB_POOL or 10). */
  poolSize?: number
  /** Log what is applied. */
  log?: (line: string) => void
}

const requestRoles = new Set(['anon', 'authenticated', 'service_role'])

export class LocalDb {
  private commitListeners: Array<() => void> = []

  private constructor(
    readonly pg: Database,
    readonly root: string,
    /** The native server's pool; undefined on PGlite. */
    readonly native?: PoolDatabase,
  ) {}

  static async open(options: OpenOptions): Promise<LocalDb> {
    const log = options.log ?? (() => {})
    if (options.url) {
      // The schema is applied on one connection, so that what a migration sets for
      // its session is reset before the next, as on PGlite's single connection.
      const setup = new LocalDb(new PoolDatabase(options.url, { max: 1 }), options.root)
      try {
        await setup.applySchema(log, ['platform.sql', 'native.sql'])
      } finally {
        await setup.pg.close()
      }
      const pool = new PoolDatabase(options.url, {
        max: options.poolSize ?? Number(process.env.KONSTRUCT_DB_POOL ?? 10),
      })
      return new LocalDb(pool, options.root, pool)
    }
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true })
    const pg = await PGlite.create({
      dataDir: options.dataDir,
      extensions: { vector, pgmq, pgtap, pgcrypto },
    })
    const db = new LocalDb(pg, options.root)
    await db.applySchema(log, ['platform.sql'])
    return db
  }

  /** The shim files from local/, then pending migrations, then the seed on a new database. */
  private async applySchema(log: (line: string) => void, shims: string[]): Promise<void> {
    for (const shim of shims) await this.pg.exec(readFileSync(new URL(`./${shim}`, import.meta.url), 'utf8'))
    const fresh = await this.applyMigrations(log)
    if (fresh) await this.applySeed(log)
  }

  /** Applies supabase/migrations/*.sql not yet recorded; true when the database was new. */
  private async applyMigrations(log: (line: string) => void): Promise<boolean> {
    const dir = join(this.root, 'supabase', 'migrations')
    const files = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.sql'))
          .sort()
      : []
    const applied = new Set(
      (await this.pg.query<{ version: string }>('select version from supabase_migrations.schema_migrations')).rows.map(
        (r) => r.version,
      ),
    )
    const { rows } = await this.pg.query<{ n: number }>('select count(*)::int as n from supabase_migrations.seed_files')
    const fresh = applied.size === 0 && rows[0].n === 0
    for (const file of files) {
      const match = /^(\d+)_(.*)\.sql$/.exec(file)
      if (!match) throw new Error(`migration file name must be <timestamp>_<name>.sql: ${file}`)
      const [, version, name] = match
      if (applied.has(version)) continue
      const sql = readFileSync(join(dir, file), 'utf8')
      await this.pg.transaction(async (tx) => {
        try {
          await tx.exec(sql)
        } catch (error) {
          throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error })
        }
        await tx.query(
          'insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)',
          [version, name, [sql]],
        )
      })
      await this.pg.exec('reset role; set search_path = "$user", public, extensions')
      log(`applied migration ${file}`)
    }
    return fresh
  }

  private async applySeed(log: (line: string) => void): Promise<void> {
    const seed = join(this.root, 'supabase', 'seed.sql')
    if (!existsSync(seed)) return
    const sql = readFileSync(seed, 'utf8')
    await this.pg.transaction(async (tx) => {
      await tx.exec(sql)
      await tx.query('insert into supabase_migrations.seed_files (path, hash) values ($1, $2)', [
        'supabase/seed.sql',
        createHash('sha256').update(sql).digest('hex'),
      ])
    })
    await this.pg.exec('reset role; set search_path = "$user", public, extensions')
    log('applied supabase/seed.sql')
  }

  /**
   * Runs `work` in one transaction as a request would on Supabase: `set local role`
   * to the JWT's role, and the claims in `request.jwt.claims` (and
   * `request.jwt.claim.*`) so auth.uid() and RLS see them, plus `context.settings`
   * (each local to the transaction).
   */
  async asRequest<T>(claims: Claims, work: (tx: Transaction) => Promise<T>, context: RequestContext = {}): Promise<T> {
    if (!requestRoles.has(claims.role)) throw new Error(`role ${claims.role} may not make requests`)
    const settings: Array<[string, string]> = [
      ['request.jwt.claims', JSON.stringify(claims)],
      ['request.jwt.claim.sub', claims.sub ?? ''],
      ['request.jwt.claim.role', claims.role],
      ['request.headers', JSON.stringify(context.headers ?? {})],
      ['request.method', context.method ?? ''],
      ['request.path', context.path ?? ''],
      ...Object.entries(context.settings ?? {}),
    ]
    // On a native server the values go in as literals, so that the settings travel
    // with `begin` (one round trip fewer per request); on PGlite as parameters.
    const values: string[] = []
    const value = this.native
      ? quoteLiteral
      : (v: string) => {
          values.push(v)
          return `$${values.length}`
        }
    const role = value(claims.role)
    const select = `select ${[
      ...(context.guard ? [context.guard] : []),
      ...settings.map(([k, v]) => `pg_catalog.set_config(${value(k)}, ${value(v)}, true)`),
      // PostgREST applies the role's own settings; PGlite does not enforce this one, a
      // native PostgreSQL does (tests/local/upstream-differences.test.ts).
      `pg_catalog.set_config('statement_timeout', coalesce((
         select split_part(c, '=', 2) from pg_catalog.pg_db_role_setting s
         join pg_catalog.pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
         where r.rolname = ${role} and s.setdatabase = 0 and c like 'statement_timeout=%'), '0'), true)`,
      // set_config('role', …, true) is `set local role`, as PostgREST does it; last, so
      // that the settings before it are made as the owner.
      `pg_catalog.set_config('role', ${role}, true)`,
    ].join(', ')}`
    const result = this.native
      ? await this.native.transaction(work, select)
      : await this.pg.transaction(async (tx) => {
          await tx.query(select, values)
          return work(tx)
        })
    this.committed()
    return result
  }

  /** Runs `work` in one transaction as the database owner (postgres). */
  async asOwner<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const result = await this.pg.transaction(work)
    this.committed()
    return result
  }

  /** Which engine this is, for benchmark output: "PGlite (PostgreSQL 18.1)" or "PostgreSQL 15.15". */
  async engine(): Promise<string> {
    const { rows } = await this.pg.query<{ v: string }>("select current_setting('server_version') as v")
    const version = rows[0]!.v.split(' ')[0]
    return this.native ? `PostgreSQL ${version}` : `PGlite (PostgreSQL ${version})`
  }

  /** Called after every transaction this wrapper commits (outboxes may have rows). */
  onCommit(listener: () => void): () => void {
    this.commitListeners.push(listener)
    return () => {
      this.commitListeners = this.commitListeners.filter((l) => l !== listener)
    }
  }

  private committed(): void {
    for (const listener of this.commitListeners) listener()
  }

  async close(): Promise<void> {
    this.commitListeners = []
    await this.pg.close()
  }
}
