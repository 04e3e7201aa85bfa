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
  /**
   * Native server only: runs the last statements of the transaction and commits it in
   * the same round trip. Nothing may run in the transaction afterwards.
   */
  execAndCommit?(sql: string): Promise<Array<{ rows: Array<Record<string, unknown>> }>>
}

/** A database: queries outside a transaction, transactions, and a way to close it. */
export interface Database extends Transaction {
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>
  close(): Promise<void>
}

const INT8 = 20
const INT8_ARRAY = 1016
const parseInt8 = (value: string): number => Number(value)
const parseInt8Array = pg.types.getTypeParser(INT8_ARRAY as never) as (value: string) => Array<string | null>

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return parseInt8
    if (oid === INT8_ARRAY) return (value: string) => parseInt8Array(value).map((v) => (v === null ? null : Number(v)))
    return pg.types.getTypeParser(oid, format)
  },
} as unknown as pg.CustomTypesConfig

function asTransaction(client: pg.PoolClient, counted: () => void): Transaction {
  return {
    async query<T>(sql: string, params?: unknown[]) {
      counted()
      const result = await client.query(sql, params)
      return { rows: result.rows as T[] }
    },
    async exec(sql: string) {
      counted()
      const result = (await client.query(sql)) as pg.QueryResult | pg.QueryResult[]
      return (Array.isArray(result) ? result : [result]).map((r) => ({ rows: r.rows ?? [] }))
    },
  }
}

/** A string literal for SQL sent as text (standard_conforming_strings is on). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a SQL literal cannot hold a NUL character')
  return `'${value.replaceAll("'", "''")}'`
}

export interface PoolOptions {
  /** Most connections at once; a request holds one for its transaction. */
  max?: number
  applicationName?: string
}

export class PoolDatabase implements Database {
  readonly pool: pg.Pool
  /** Round trips to the server so far (statements sent, begin and commit included): benches report them. */
  roundTrips = 0
  private readonly counted = () => void this.roundTrips++
  private listener: Promise<pg.Client> | undefined
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
    return this.withClient(async (client, discard) => {
      try {
        return await asTransaction(client, this.counted).query<T>(sql, params)
      } catch (error) {
        // Without a SQLSTATE the error is the connection's, not the statement's.
        if (typeof (error as { code?: unknown }).code !== 'string') discard()
        throw error
      }
    })
  }

  exec(sql: string): Promise<Array<{ rows: Array<Record<string, unknown>> }>> {
    return this.withClient(async (client, discard) => {
      try {
        return await asTransaction(client, this.counted).exec(sql)
      } catch (error) {
        // A script that failed inside its own `begin` leaves the connection in an
        // aborted transaction; end it before the connection serves anyone else.
        await client.query('rollback').catch(discard)
        throw error
      }
    })
  }

  /**
   * Runs `work` in a transaction. `opening`, one statement run first inside it, is
   * sent together with `begin` and, when `work` starts with exec, with that too: on a
   * busy machine each round trip to the server costs a wake-up of another process.
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T>, opening?: string): Promise<T> {
    return this.withClient(async (client, discard) => {
      const inner = asTransaction(client, this.counted)
      let pending: string | undefined = opening ? `begin; ${opening}` : 'begin'
      const skip = opening ? 2 : 1
      const tx: Transaction = {
        async query(sql, params) {
          if (committed) throw new Error('the transaction has already committed')
          const first = pending
          pending = undefined
          if (first) await inner.query(first)
          return inner.query(sql, params)
        },
        async exec(sql) {
          if (committed) throw new Error('the transaction has already committed')
          if (!pending) return inner.exec(sql)
          const script = `${pending};\n${sql}`
          pending = undefined
          return (await inner.exec(script)).slice(skip)
        },
        async execAndCommit(sql) {
          if (committed) throw new Error('the transaction has already committed')
          const first = pending
          pending = undefined
          const results = await inner.exec(`${first ? `${first};\n` : ''}${sql};\ncommit`)
          committed = true
          return results.slice(first ? skip : 0, -1)
        },
      }
      let committed = false
      let result: T
      try {
        result = await work(tx)
      } catch (error) {
        if (!pending && !committed) await inner.query('rollback').catch(discard)
        throw error
      }
      if (!pending && !committed) await inner.query('commit')
      return result
    })
  }

  /**
   * Calls `handler` with the payload of each NOTIFY on `channel`, in commit order,
   * on one connection kept for listening. Returns a function that stops it.
   */
  async listen(channel: string, handler: (payload: string) => void): Promise<() => void> {
    this.listener ??= this.connectListener()
    const client = await this.listener
    let set = this.handlers.get(channel)
    if (!set) {
      set = new Set()
      this.handlers.set(channel, set)
      await client.query(`listen ${pg.escapeIdentifier(channel)}`)
    }
    set.add(handler)
    return () => void set.delete(handler)
  }

  private async connectListener(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url, types, application_name: 'konstruct-listen' })
    client.on('error', () => {})
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '')
    })
    await client.connect()
    return client
  }

  /**
   * Runs `work` on a pooled connection, which goes back to the pool unless `work`
   * calls `discard` (the connection broke, or its transaction could not be ended).
   */
  private async withClient<T>(work: (client: pg.PoolClient, discard: () => void) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    try {
      return await work(client, () => void (broken ??= new Error('connection discarded')))
    } finally {
      client.release(broken)
    }
  }

  async close(): Promise<void> {
    const listener = this.listener
    this.listener = undefined
    this.handlers.clear()
    await listener?.then((client) => client.end()).catch(() => {})
    await this.pool.end()
  }
}
