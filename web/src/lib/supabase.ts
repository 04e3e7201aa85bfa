// The browser's Supabase client: Auth session from cookies (set by the server),
// RPC on the api schema (the only schema the Data API exposes), and Realtime.
import { createBrowserClient, isBrowser } from '@supabase/ssr'
import type { SupabaseClient } from '@supabase/supabase-js'
import { env } from '$env/dynamic/public'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ApiClient = SupabaseClient<any, 'api', 'api'>

let browserClient: ApiClient | undefined

export function browserSupabase(): ApiClient {
  if (!isBrowser()) throw new Error('browserSupabase() is for the browser only')
  browserClient ??= createBrowserClient(env.PUBLIC_SUPABASE_URL ?? '', env.PUBLIC_SUPABASE_PUBLISHABLE_KEY ?? '', {
    db: { schema: 'api' },
  }) as unknown as ApiClient
  return browserClient
}
