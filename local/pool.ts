// A native PostgreSQL server behind the same small interface local/ uses on PGlite
// (query, exec, transaction), over a pool of `pg` connections. Values come back as
// PGlite gives them (int8 as a number, bytea as bytes), so callers need not care
// which engine they run on.
import pg from 'pg'

/** What local/ needs of a connection inside a transaction. */
export interface Transaction {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>
  /** Runs one or more statements with the simple protocol; one result per statement. */
  exec(sql: string): Promise<Array<{ rows: Array<Record<string, unknown>> }>>
}

/** A database: queries outside a transaction, transactions, and a way to close it. */
export interface Database extends Transaction {
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>
  close(): Promise<void>
}

const INT8 = 20
const INT8_ARRAY = 1016
const parseInt8 = (value: string): number => Number(value)
const parseInt8Array = pg.types.getTypeParser(INT8_ARRAY as pg.types.builtins) as (
  value: string,
) => Array<string | null>

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return parseInt8
    if (oid === INT8_ARRAY) return (value: string) => parseInt8Array(value).map((v) => (v === null ? null : Number(v)))
    return pg.types.getTypeParser(oid, format)
  },
} as unknown as pg.CustomTypesConfig

function asTransaction(client: pg.PoolClient): Transaction {
  return {
    async query<T>(sql: string, params?: unknown[]) {
      const result = await client.query(sql, params)
      return { rows: result.rows as T[] }
    },
    async exec(sql: string) {
      const result = (await client.query(sql)) as pg.QueryResult | pg.QueryResult[]
      return (Array.isArray(result) ? result : [result]).map((r) => ({ rows: r.rows ?? [] }))
    },
  }
}

export interface PoolOptions {
  /** Most connections at once; a request holds one for its transaction. */
  max?: number
  applicationName?: string
}

export class PoolDatabase implements Database {
  readonly pool: pg.Pool
  private listener: pg.Client | undefined
  private readonly handlers = new Map<string, Set<(payload: string) => void>>()

  constructor(
    readonly url: string,
    options: PoolOptions = {},
  ) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      types,
      application_name: options.applicationName ?? 'konstruct-local',
    })
    // An idle connection the server closed must not crash the process.
    this.pool.on('error', () => {})
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }> {
    return this.withClient((client) => asTransaction(client).query<T>(sql, params))
  }

  exec(sql: string): Promise<Array<{ rows: Array<Record<string, unknown>> }>> {
    return this.withClient(async (client) => {
      try {
        return await asTransaction(client).exec(sql)
      } catch (error) {
        // A script that failed inside its own `begin` leaves the connection in an
        // aborted transaction; end it before the connection serves anyone else.
        await client.query('rollback').catch(() => {})
        throw error
      }
    })
  }

  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('begin')
      let result: T
      try {
        result = await work(asTransaction(client))
      } catch (error) {
        await client.query('rollback').catch(() => {})
        throw error
      }
      await client.query('commit')
      return result
    })
  }

  /**
   * Calls `handler` with the payload of each NOTIFY on `channel`, in commit order,
   * on one connection kept for listening. Returns a function that stops it.
   */
  async listen(channel: string, handler: (payload: string) => void): Promise<() => void> {
    if (!this.listener) {
      const client = new pg.Client({ connectionString: this.url, types, application_name: 'konstruct-listen' })
      client.on('error', () => {})
      client.on('notification', (message) => {
        for (const h of this.handlers.get(message.channel) ?? []) h(message.payload ?? '')
      })
      await client.connect()
      this.listener = client
    }
    let set = this.handlers.get(channel)
    if (!set) {
      set = new Set()
      this.handlers.set(channel, set)
      await this.listener.query(`listen ${pg.escapeIdentifier(channel)}`)
    }
    set.add(handler)
    return () => void set.delete(handler)
  }

  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    try {
      return await work(client)
    } catch (error) {
      // A connection error means the client cannot be reused.
      if (!(error as { code?: unknown }).code) broken = error as Error
      throw error
    } finally {
      client.release(broken)
    }
  }

  async close(): Promise<void> {
    const listener = this.listener
    this.listener = undefined
    this.handlers.clear()
    await listener?.end().catch(() => {})
    await this.pool.end()
  }
}
