// Starts a fresh in-memory local stack for a test file, on a free port.
import { fileURLToPath } from 'node:url'
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { startStack, type LocalStack, type StackOptions } from '../../local/server.ts'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

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

export async function startTestStack(options: Partial<StackOptions> = {}): Promise<TestStack> {
  const stack = await startStack({
    root: repoRoot,
    port: 0,
    log: process.env.STACK_LOG ? (line) => console.log(`[stack] ${line}`) : undefined,
    ...options,
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
