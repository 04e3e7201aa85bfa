// The model-check function: an owner or admin asks whether the model settings they are
// about to save work, before they are saved. The settings page sends what it would save
// (base URL, model, a new key); anything left out is the tenant's saved setting, and the
// endpoint, model and key are resolved the way the agent worker resolves them, so the
// check calls exactly what agents would call. The stored key is read with the service
// role here and never leaves this function.
//
// Rules:
//   1. a signed-in person's access token, verified against the project's JWKS by the
//      function itself (verify_jwt = false; a key or an anonymous visitor is not a person);
//   2. the database decides who may: api.get_tenant as the caller, owner or admin only;
//   3. the tiny request goes through shared/agent/model-check.ts (the guarded client).
import { z } from 'zod'
import { bearerOf, userVerifier, type UserCheck } from '../api/callers.ts'
import { ApiError, type Api } from '../api/client.ts'
import { projectFromEnv, requirePublishableKey, serviceApi, userApi, type Project } from '../api/project.ts'
import { optionalEnv, type Env } from '../runtime/env.ts'
import { BROWSER_CORS as CORS_HEADERS, consoleLog, describeError, json, type Log } from '../runtime/http.ts'
import type { ResolveHost } from '../net/guarded-fetch.ts'
import { checkModelEndpoint, OFFLINE_RESULT, type ModelCheckResult } from './model-check.ts'
import { readModelSettings } from './settings.ts'
import { DEFAULT_MODEL, DEFAULT_OPENAI_BASE_URL } from './worker/config.ts'

export interface ModelCheckConfig {
  project: Project
  platform: { baseUrl: string | null; apiKey: string | null; model: string | null }
  /** The platform endpoint's own host; '*' when MODEL_ALLOW_LOCAL_ENDPOINTS=true. */
  trustedHosts: string[]
}

export function modelCheckConfigFromEnv(env: Env): ModelCheckConfig {
  const platformBase = optionalEnv(env, 'OPENAI_BASE_URL') ?? null
  // The same rule as the worker's (shared/agent/model-endpoint.ts): with
  // MODEL_ALLOW_LOCAL_ENDPOINTS=true the operator lets tenants use any endpoint; otherwise
  // only the platform's own endpoint is trusted and a tenant's goes through the guard.
  const trusted = optionalEnv(env, 'MODEL_ALLOW_LOCAL_ENDPOINTS') === 'true' ? ['*'] : []
  if (platformBase) {
    try {
      trusted.push(new URL(platformBase).hostname)
    } catch {
      // A malformed platform URL is the worker's to report.
    }
  }
  const project = projectFromEnv(env)
  requirePublishableKey(project)
  return {
    project,
    platform: {
      baseUrl: platformBase,
      apiKey: optionalEnv(env, 'OPENAI_API_KEY') ?? null,
      model: optionalEnv(env, 'OPENAI_MODEL') ?? null,
    },
    trustedHosts: trusted,
  }
}

const requestSchema = z.object({
  tenant_id: z.string().uuid(),
  /** undefined: the saved value; null or '': none. */
  base_url: z.string().max(2000).nullish(),
  model: z.string().max(200).nullish(),
  api_key: z.string().max(1000).nullish(),
})

const tenantSchema = z.object({
  my_role: z.string().nullable(),
  model_settings: z.unknown(),
  has_own_llm_key: z.boolean(),
})

const SAVED_ENDPOINT_UNREADABLE: ModelCheckResult = {
  ok: false,
  outcome: 'invalid_url',
  message: 'The saved endpoint is not an http(s) URL: enter the endpoint again, or clear it.',
  status: null,
  model: null,
}

export interface ModelCheckDeps {
  resolveHost: ResolveHost
  fetch?: typeof fetch
  userRpc?: (accessToken: string) => Api
  serviceRpc?: Api
  /** Verifies the caller's access token; the project's JWKS by default. */
  verifyUser?: UserCheck
  log?: Log
}

export function createModelCheckHandler(config: ModelCheckConfig, deps: ModelCheckDeps) {
  const log = deps.log ?? consoleLog
  const userRpc = deps.userRpc ?? ((accessToken: string) => userApi(config.project, accessToken))
  const serviceRpc = deps.serviceRpc ?? serviceApi(config.project)
  const verifyUser = deps.verifyUser ?? userVerifier(config.project)

  return async function handleModelCheck(req: Request): Promise<Response> {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' }, CORS_HEADERS)
    const token = bearerOf(req)
    const caller = await verifyUser(token)
    if (!token || !caller || caller.is_anonymous) return json(401, { error: 'sign in first' }, CORS_HEADERS)
    let input: z.infer<typeof requestSchema>
    try {
      input = requestSchema.parse(JSON.parse(await req.text()))
    } catch {
      return json(400, { error: 'expected {tenant_id, base_url?, model?, api_key?}' }, CORS_HEADERS)
    }

    let tenant: z.infer<typeof tenantSchema>
    try {
      tenant = tenantSchema.parse(await userRpc(token)('get_tenant', { tenant_id: input.tenant_id }))
    } catch (error) {
      if (error instanceof ApiError && (error.code === '42501' || error.code === 'P0002')) {
        return json(403, { error: 'Only owners and admins can test model settings.' }, CORS_HEADERS)
      }
      log('model-check: tenant lookup failed', { error: describeError(error) })
      return json(502, { error: 'The check could not run. Try again.' }, CORS_HEADERS)
    }
    if (tenant.my_role !== 'owner' && tenant.my_role !== 'admin') {
      return json(403, { error: 'Only owners and admins can test model settings.' }, CORS_HEADERS)
    }

    // The saved settings as the worker reads them (./settings.ts): a saved endpoint that does
    // not fit is never replaced by another one, so the check does not pretend it works.
    const saved = readModelSettings(tenant.model_settings)
    if (input.base_url === undefined && saved.endpointUnreadable) {
      log('model-check: the saved endpoint does not fit the format', {
        tenant_id: input.tenant_id,
        problems: saved.problems,
      })
      return json(200, SAVED_ENDPOINT_UNREADABLE, CORS_HEADERS)
    }
    const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : null)
    const baseUrl = input.base_url === undefined ? (saved.settings.base_url ?? null) : text(input.base_url)
    const model = input.model === undefined ? (saved.settings.model ?? null) : text(input.model)
    let ownKey = text(input.api_key)
    if (!ownKey && input.api_key === undefined && tenant.has_own_llm_key) {
      try {
        ownKey = text(await serviceRpc<string | null>('get_llm_key', { tenant_id: input.tenant_id }))
      } catch (error) {
        log('model-check: could not read the saved key', { error: describeError(error) })
        return json(502, { error: 'The check could not run. Try again.' }, CORS_HEADERS)
      }
    }

    // The worker's order: the tenant's URL with its key; its key on the platform endpoint;
    // the platform's endpoint and key; else offline mode.
    const platform = config.platform
    let target: { baseUrl: string; apiKey: string | null } | null
    if (baseUrl) target = { baseUrl, apiKey: ownKey }
    else if (ownKey) target = { baseUrl: platform.baseUrl ?? DEFAULT_OPENAI_BASE_URL, apiKey: ownKey }
    else if (platform.baseUrl || platform.apiKey)
      target = { baseUrl: platform.baseUrl ?? DEFAULT_OPENAI_BASE_URL, apiKey: platform.apiKey }
    else target = null
    if (!target) return json(200, OFFLINE_RESULT, CORS_HEADERS)

    const result = await checkModelEndpoint(
      { ...target, model: model ?? platform.model ?? DEFAULT_MODEL },
      { resolveHost: deps.resolveHost, fetch: deps.fetch, trustedHosts: config.trustedHosts },
    )
    if (!result.ok)
      log('model-check: failed', { tenant_id: input.tenant_id, outcome: result.outcome, status: result.status })
    return json(200, result, CORS_HEADERS)
  }
}
