// What a function knows about its Supabase project, from the variables hosted functions
// receive: SUPABASE_URL, SUPABASE_SECRET_KEYS and SUPABASE_PUBLISHABLE_KEYS (JSON objects
// of named keys, {"default": "sb_…"}) and SUPABASE_JWKS (the public keys that verify user
// sessions). A self-hoster may set the single SUPABASE_SECRET_KEY / SUPABASE_PUBLISHABLE_KEY
// instead. The legacy anon/service_role keys and the JWT secret are not read.
import { requireEnv, optionalEnv, type Env } from '../runtime/env.ts'
import { createApi, type Api } from './client.ts'

export interface Project {
  url: string
  /** The `default` secret key: server code calls the api with it (service_role). */
  secretKey: string
  /** Every secret key the project has, any of which identifies a server caller. */
  secretKeys: string[]
  /** The `default` publishable key: what a browser holds; user calls carry it. Null when not given. */
  publishableKey: string | null
  /** SUPABASE_JWKS when given; otherwise sessions are verified against the Auth server's JWKS. */
  jwks: { keys: Record<string, unknown>[] } | null
}

export function projectFromEnv(env: Env): Project {
  const secretKeys = namedKeys(env, 'SUPABASE_SECRET_KEYS', 'SUPABASE_SECRET_KEY')
  const publishableKeys =
    optionalEnv(env, 'SUPABASE_PUBLISHABLE_KEYS') || optionalEnv(env, 'SUPABASE_PUBLISHABLE_KEY')
      ? namedKeys(env, 'SUPABASE_PUBLISHABLE_KEYS', 'SUPABASE_PUBLISHABLE_KEY')
      : {}
  return {
    url: requireEnv(env, 'SUPABASE_URL').replace(/\/+$/, ''),
    secretKey: secretKeys['default'] ?? Object.values(secretKeys)[0]!,
    secretKeys: Object.values(secretKeys),
    publishableKey: publishableKeys['default'] ?? Object.values(publishableKeys)[0] ?? null,
    jwks: parseJwks(optionalEnv(env, 'SUPABASE_JWKS')),
  }
}

/** The api as the platform itself (service_role), with the project's secret key. */
export function serviceApi(project: Project): Api {
  return createApi({ url: project.url, key: project.secretKey })
}

/** The api as a signed-in user (their access token), for functions that act for a user. */
export function userApi(project: Project, accessToken: string): Api {
  return createApi({ url: project.url, key: requirePublishableKey(project), accessToken })
}

/** The publishable key, for functions that cannot work without it (checked at start). */
export function requirePublishableKey(project: Project): string {
  if (!project.publishableKey) throw new Error('SUPABASE_PUBLISHABLE_KEYS is not set')
  return project.publishableKey
}

function namedKeys(env: Env, plural: string, single: string): Record<string, string> {
  const json = optionalEnv(env, plural)
  if (json) {
    let parsed: unknown
    try {
      parsed = JSON.parse(json)
    } catch {
      throw new Error(`${plural} is not a JSON object of named keys`)
    }
    const keys = Object.fromEntries(
      Object.entries(typeof parsed === 'object' && parsed !== null ? parsed : {}).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== '',
      ),
    )
    if (Object.keys(keys).length > 0) return keys
    throw new Error(`${plural} holds no key`)
  }
  const one = optionalEnv(env, single)
  if (one) return { default: one }
  throw new Error(`${plural} is not set`)
}

function parseJwks(json: string | undefined): Project['jwks'] {
  if (!json) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    throw new Error('SUPABASE_JWKS is not valid JSON')
  }
  // Both {"keys": [...]} and a bare array are in use.
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys
  if (!Array.isArray(keys)) throw new Error('SUPABASE_JWKS has no keys')
  return { keys: keys as Record<string, unknown>[] }
}
