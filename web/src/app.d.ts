import type { Session, User } from '@supabase/supabase-js'
import type { ApiClient } from '$lib/supabase'

declare global {
  namespace App {
    interface Locals {
      supabase: ApiClient
      safeGetSession: () => Promise<{ session: Session | null; user: User | null }>
      session: Session | null
      user: User | null
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
