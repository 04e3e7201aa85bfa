import type { Session } from '@supabase/supabase-js'
import type { ApiClient } from '$lib/supabase'

/** The signed-in user, from the verified claims of the session's access token. */
interface SessionUser {
  id: string
  email: string
}

declare global {
  namespace App {
    interface Locals {
      supabase: ApiClient
      safeGetSession: () => Promise<{ session: Session | null; user: SessionUser | null }>
      session: Session | null
      user: SessionUser | null
    }
    interface PageData {
      user: { id: string; email: string } | null
      sessionExpiresAt: number | null
    }
    interface Error {
      message: string
    }
  }
}

export {}
