// The browser's Supabase client: Auth session from cookies (set by the server),
// RPC on the api schema, and Realtime for live updates.
import { createBrowserClient, isBrowser } from '@supabase/ssr'
import type { SupabaseClient } from '@supabase/supabase-js'
import { env } from '$env/dynamic/public'

let browserClient: SupabaseClient | undefined

export function browserSupabase(): SupabaseClient {
  if (!isBrowser()) throw new Error('browserSupabase() is for the browser only')
  browserClient ??= createBrowserClient(env.PUBLIC_SUPABASE_URL, env.PUBLIC_SUPABASE_ANON_KEY)
  return browserClient
}
