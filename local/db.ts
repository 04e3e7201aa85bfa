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
import { PoolDatabase, type Database, type Transaction } from './pool.ts'

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
      const pool = new PoolDatabase(options.url, { max: Number(process.env.KONSTRUCT_DB_POOL ?? 10) })
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
   * `request.jwt.claim.*`) so auth.uid() and RLS see them.
   */
  async asRequest<T>(claims: Claims, work: (tx: Transaction) => Promise<T>, context: RequestContext = {}): Promise<T> {
    if (!requestRoles.has(claims.role)) throw new Error(`role ${claims.role} may not make requests`)
    const result = await this.pg.transaction(async (tx) => {
      // set_config('role', …, true) is `set local role`, as PostgREST does it.
      await tx.query(
        `select set_config('request.jwt.claims', $1, true),
                set_config('request.jwt.claim.sub', $2, true),
                set_config('request.jwt.claim.role', $3, true),
                set_config('request.headers', $4, true),
                set_config('request.method', $5, true),
                set_config('request.path', $6, true),
                set_config('role', $3, true)`,
        [
          JSON.stringify(claims),
          claims.sub ?? '',
          claims.role,
          JSON.stringify(context.headers ?? {}),
          context.method ?? '',
          context.path ?? '',
        ],
      )
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
