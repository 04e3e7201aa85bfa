// Starts a fresh in-memory local stack for a test file, on a free port.
import { fileURLToPath } from 'node:url'
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { startStack, type LocalStack, type StackOptions } from '../../local/server.ts'
import { startPostgres, type NativePostgres } from '../../local/postgres.ts'
import { DEV_WORKER_SECRET } from '../../local/dev-secrets.ts'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** Whether this run's database is a native PostgreSQL (KONSTRUCT_DB=native or a
 * postgres://… URL) rather than PGlite: what needs concurrent transactions runs only there. */
export const nativeDb = Boolean(process.env.KONSTRUCT_DB && process.env.KONSTRUCT_DB !== 'pglite')

/** The native server KONSTRUCT_DB names: the postgres://… URL as given (left running), else a
 * throwaway cluster with the migrations and the seed, stopped by stop(). */
export async function startNativeDb(): Promise<NativePostgres> {
  const url = process.env.KONSTRUCT_DB?.startsWith('postgres') ? process.env.KONSTRUCT_DB : undefined
  return url ? { url, port: 0, stop: async () => {} } : startPostgres({ root: repoRoot })
}

// Clients of the api schema; the schema has no generated types here.
export type ApiClient = SupabaseClient<any, any, any>

export interface TestStack extends LocalStack {
  /** A supabase-js client with the publishable key (sign in on it to become a user). */
  anonClient(): ApiClient
  /** A supabase-js client with the secret key (service_role). */
  serviceClient(): ApiClient
  /** Signs up a new user with a unique email and returns a client signed in as them. */
  newUser(label?: string): Promise<{ client: ApiClient; userId: string; email: string; password: string }>
}

let counter = 0

/**
 * Turns the database's wake-ups of the functions on or off: on is the deploy step
 * (app.configure_functions with the stack's worker secret), off removes the Vault
 * secret of where the functions are, so neither pg_net nor the cron safety net wakes
 * the worker (each enqueue then warns).
 */
export async function setWakeUps(stack: LocalStack, enabled: boolean): Promise<void> {
  await stack.db.asOwner(async (tx) => {
    if (enabled) {
      await tx.query('select app.configure_functions($1, $2)', [`${stack.url}/functions/v1`, DEV_WORKER_SECRET])
    } else {
      await tx.query(`delete from vault.secrets where name = 'konstruct_functions_url'`)
    }
  })
}

export async function startTestStack(options: Partial<StackOptions> = {}): Promise<TestStack> {
  const stack = await startStack({
    root: repoRoot,
    port: 0,
    // KONSTRUCT_DB=native (a throwaway PostgreSQL per stack) or postgres://… runs the
    // test on a native server instead of PGlite.
    db: process.env.KONSTRUCT_DB || undefined,
    log: process.env.STACK_LOG ? (line) => console.log(`[stack] ${line}`) : undefined,
    ...options,
    functionEnv: {
      // The fake model servers listen on 127.0.0.1 over http.
      MODEL_ALLOW_LOCAL_ENDPOINTS: 'true',
      // Every test request comes from 127.0.0.1: the widget's per-IP allowance would be shared
      // by all of a file's visitors (tests that check it pass their own limits).
      WEB_CHAT_IP_PER_MINUTE: '100000',
      ...options.functionEnv,
    },
  })
  // Node 20 has no global WebSocket; realtime-js takes ws as its transport.
  const clientOptions = {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket as never },
    // Only the api schema is exposed (supabase/config.toml).
    db: { schema: 'api' },
  }
  const anonClient = (): ApiClient => createClient(stack.url, stack.keys.publishableKey, clientOptions)
  return {
    ...stack,
    anonClient,
    serviceClient: (): ApiClient => createClient(stack.url, stack.keys.secretKey, clientOptions),
    async newUser(label = 'user') {
      const client = anonClient()
      const email = `${label}-${process.pid}-${++counter}-${Date.now()}@example.test`
      const password = 'correct-horse-battery-staple'
      const { data, error } = await client.auth.signUp({ email, password })
      if (error || !data.user) throw new Error(`sign up failed: ${error?.message}`)
      return { client, userId: data.user.id, email, password }
    },
  }
}
