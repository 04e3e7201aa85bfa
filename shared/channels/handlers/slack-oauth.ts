// The slack-oauth function: "Add to Slack" for one tenant, OAuth v2.
//
// GET /slack-oauth/start?tenant_id=…&browser_hash=…  (Authorization: Bearer <the admin's access token>)
//   1. The user is whoever Supabase Auth says the token belongs to (GET /auth/v1/user),
//      never what the token merely claims.
//   2. The state is HMAC-signed, names the tenant, the admin and the browser (the SHA-256
//      of a secret the portal keeps in that browser's cookie), expires in 10 minutes;
//      its nonce is stored by api.begin_slack_install, which refuses non-admins.
//   3. Answers a 302 to Slack's authorize page, or {url} as JSON when asked
//      (Accept: application/json or ?format=json), for a portal that navigates itself.
//      The same as POST /slack-oauth {action: 'install_url', tenant_id, browser_hash}.
// GET /slack-oauth/callback?code=…&state=…  (Slack redirects the browser here)
//   4. Checks the state's signature and expiry and hands the browser to the portal
//      (PORTAL_URL/slack/finish): whoever opens an authorize link must finish the install
//      in the portal, signed in as the admin who started it, in the browser that started
//      it. Nothing is exchanged or stored here.
// POST /slack-oauth {action: 'complete', code, state, browser_secret}  (Bearer: the admin)
//   4b. The signed-in user must be the state's admin and the browser secret must hash to
//      the state's; then api.consume_slack_install: single use.
//   5. oauth.v2.access at SLACK_API_URL exchanges the code for the bot token.
//   6. api.save_slack_installation stores the token in Vault and creates the tenant's Slack
//      connection, or on re-install rotates the token; a workspace that belongs to another
//      tenant is refused (23505).
//   7. Redirects to PORTAL_URL/t/<tenant>/channels?slack=… or shows a small page.
import {
  browserSecretHash,
  buildSlackInstallUrl,
  createSlackWebClient,
  DEFAULT_SLACK_API_URL,
  DEFAULT_SLACK_AUTHORIZE_URL,
  signOAuthState,
  SlackApiError,
  verifyOAuthState,
} from '../slack/mod.ts'
import { type Api, ApiError } from '../../api/client.ts'
import { projectFromEnv, serviceApi } from '../../api/project.ts'
import { bearerOf, userVerifier, type UserCheck } from '../../api/callers.ts'
import { type Env, optionalEnv, requireEnv } from '../../runtime/env.ts'
import { consoleLog, describeError, json, type Log, subPath, text } from '../../runtime/http.ts'
import { constantTimeEqual } from '../../runtime/constant-time.ts'
import { readJsonBody } from '../../net/request-body.ts'

export interface SlackOAuthConfig {
  clientId: string
  clientSecret: string
  /** Signs the state; SLACK_STATE_SECRET, else the client secret. */
  stateSecret: string
  /** Where Slack sends the browser back: this function's /callback. */
  redirectUri: string
  authorizeUrl: string
  apiUrl: string
  /** Verifies the signed-in admin's access token (the project's JWKS). */
  verifyUser: UserCheck
  /** The portal, to send the admin back to; without it a small page is shown. */
  portalUrl?: string
  rpc: Api
  fetch?: typeof fetch
  now?: () => Date
  log?: Log
}

export function slackOAuthConfigFromEnv(env: Env): SlackOAuthConfig {
  const project = projectFromEnv(env)
  const supabaseUrl = project.url
  const clientSecret = requireEnv(env, 'SLACK_CLIENT_SECRET')
  return {
    clientId: requireEnv(env, 'SLACK_CLIENT_ID'),
    clientSecret,
    stateSecret: optionalEnv(env, 'SLACK_STATE_SECRET') ?? clientSecret,
    redirectUri: optionalEnv(env, 'SLACK_REDIRECT_URI') ?? `${supabaseUrl}/functions/v1/slack-oauth/callback`,
    authorizeUrl: optionalEnv(env, 'SLACK_OAUTH_URL') ?? DEFAULT_SLACK_AUTHORIZE_URL,
    apiUrl: optionalEnv(env, 'SLACK_API_URL') ?? DEFAULT_SLACK_API_URL,
    verifyUser: userVerifier(project),
    portalUrl: optionalEnv(env, 'PORTAL_URL'),
    rpc: serviceApi(project),
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const STATE_TTL_SECONDS = 600
const BROWSER_HASH = /^[0-9a-f]{64}$/

export function createSlackOAuthHandler(config: SlackOAuthConfig): (req: Request) => Promise<Response> {
  const now = config.now ?? (() => new Date())
  const log = config.log ?? consoleLog
  const doFetch = config.fetch ?? globalThis.fetch

  /** The signed-in person starting the install (never an anonymous visitor). */
  async function signedInUser(req: Request): Promise<string | null> {
    const claims = await config.verifyUser(bearerOf(req))
    return claims && !claims.is_anonymous ? claims.sub : null
  }

  async function start(
    req: Request,
    url: URL,
    fromBody?: { tenantId: string; browserHash: string },
  ): Promise<Response> {
    const tenantId = fromBody?.tenantId ?? url.searchParams.get('tenant_id') ?? ''
    const browserHash = fromBody?.browserHash ?? url.searchParams.get('browser_hash') ?? ''
    if (!UUID.test(tenantId)) return json(400, { error: 'tenant_id is required' })
    if (!BROWSER_HASH.test(browserHash)) return json(400, { error: 'browser_hash is required' })
    const userId = await signedInUser(req)
    if (!userId) return json(401, { error: 'sign in first' })
    const state = await signOAuthState({
      secret: config.stateSecret,
      tenantId,
      userId,
      browserHash,
      now: now(),
      ttlSeconds: STATE_TTL_SECONDS,
    })
    try {
      await config.rpc('begin_slack_install', {
        tenant_id: tenantId,
        user_id: userId,
        nonce: state.nonce,
        expires_at: state.expiresAt.toISOString(),
      })
    } catch (error) {
      if (error instanceof ApiError && error.code === '42501') {
        return json(403, { error: 'only an owner or admin of this workspace can add Slack' })
      }
      throw error
    }
    const installUrl = buildSlackInstallUrl({
      clientId: config.clientId,
      redirectUri: config.redirectUri,
      state: state.state,
      authorizeUrl: config.authorizeUrl,
    })
    log('slack_oauth.started', { tenant_id: tenantId, user_id: userId })
    const wantsJson =
      fromBody !== undefined ||
      url.searchParams.get('format') === 'json' ||
      (req.headers.get('accept') ?? '').includes('application/json')
    if (wantsJson) return json(200, { url: installUrl })
    return new Response(null, { status: 302, headers: { location: installUrl, 'cache-control': 'no-store' } })
  }

  async function callback(url: URL): Promise<Response> {
    // The admin pressed "Cancel" on Slack's page.
    if (url.searchParams.get('error')) return finish(null, 'cancelled')
    const verified = await verifyOAuthState({
      secret: config.stateSecret,
      state: url.searchParams.get('state'),
      now: now(),
    })
    if (!verified.ok) {
      log('slack_oauth.bad_state', { reason: verified.reason })
      return finish(null, 'invalid_state', 400)
    }
    const code = url.searchParams.get('code')
    if (!code) return finish(verified.tenantId, 'invalid_request', 400)
    if (!config.portalUrl) return finish(null, 'portal_required', 500)
    // The portal finishes it as the signed-in admin, with this browser's install cookie.
    const handOver = new URL(`${config.portalUrl.replace(/\/+$/, '')}/slack/finish`)
    handOver.searchParams.set('code', code)
    handOver.searchParams.set('state', url.searchParams.get('state')!)
    return new Response(null, { status: 302, headers: { location: handOver.toString(), 'cache-control': 'no-store' } })
  }

  /** Step 4b: the portal, as the signed-in admin, with the browser's secret. */
  async function complete(req: Request, body: Record<string, unknown>): Promise<Response> {
    const code = typeof body['code'] === 'string' ? body['code'] : ''
    const browserSecret = typeof body['browser_secret'] === 'string' ? body['browser_secret'] : ''
    const userId = await signedInUser(req)
    if (!userId) return json(401, { error: 'sign in first' })
    const verified = await verifyOAuthState({
      secret: config.stateSecret,
      state: typeof body['state'] === 'string' ? body['state'] : null,
      now: now(),
      expectedUserId: userId,
    })
    if (!verified.ok) {
      log('slack_oauth.bad_state', { reason: verified.reason, user_id: userId })
      return json(400, { tenant_id: null, outcome: 'invalid_state' })
    }
    if (!code) return json(400, { tenant_id: verified.tenantId, outcome: 'invalid_request' })
    if (!browserSecret || !constantTimeEqual(await browserSecretHash(browserSecret), verified.browserHash)) {
      log('slack_oauth.other_browser', { tenant_id: verified.tenantId, user_id: userId })
      return json(400, { tenant_id: verified.tenantId, outcome: 'invalid_state' })
    }
    const outcome = await install(verified, code)
    return json(outcome.status, { tenant_id: verified.tenantId, outcome: outcome.outcome })
  }

  async function install(
    verified: { tenantId: string; userId: string; nonce: string },
    code: string,
  ): Promise<{ outcome: string; status: number }> {
    try {
      await config.rpc('consume_slack_install', { nonce: verified.nonce })
    } catch (error) {
      if (error instanceof ApiError && ['P0002', 'KO006', '42501'].includes(error.code ?? '')) {
        log('slack_oauth.state_refused', { code: error.code, tenant_id: verified.tenantId })
        return { outcome: 'invalid_state', status: 400 }
      }
      throw error
    }

    const slack = createSlackWebClient({ apiUrl: config.apiUrl, fetch: doFetch })
    let installation
    try {
      installation = await slack.oauthV2Access({
        clientId: config.clientId,
        clientSecret: config.clientSecret,
        code,
        redirectUri: config.redirectUri,
      })
    } catch (error) {
      log('slack_oauth.exchange_failed', { error: describeError(error), tenant_id: verified.tenantId })
      return { outcome: error instanceof SlackApiError ? 'slack_refused' : 'slack_unavailable', status: 502 }
    }
    if (installation.isEnterpriseInstall) return { outcome: 'enterprise_not_supported', status: 400 }

    try {
      const connection = await config.rpc<{ connection_id: string }>('save_slack_installation', {
        tenant_id: verified.tenantId,
        team_id: installation.teamId,
        bot_user_id: installation.botUserId,
        bot_token: installation.botToken,
        team_name: installation.teamName,
        installed_by: verified.userId,
      })
      log('slack_oauth.installed', {
        tenant_id: verified.tenantId,
        team_id: installation.teamId,
        connection_id: connection.connection_id,
      })
      return { outcome: 'installed', status: 200 }
    } catch (error) {
      if (error instanceof ApiError && error.code === '23505') {
        log('slack_oauth.team_taken', { tenant_id: verified.tenantId, team_id: installation.teamId })
        return { outcome: 'workspace_taken', status: 409 }
      }
      throw error
    }
  }

  function finish(tenantId: string | null, outcome: string, status = 200): Response {
    if (config.portalUrl && tenantId) {
      const target = new URL(`${config.portalUrl.replace(/\/+$/, '')}/t/${encodeURIComponent(tenantId)}/channels`)
      target.searchParams.set('slack', outcome)
      return new Response(null, { status: 302, headers: { location: target.toString(), 'cache-control': 'no-store' } })
    }
    const message = OUTCOME_MESSAGES[outcome] ?? 'Something went wrong.'
    const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Konstruct · Slack</title></head><body><main><h1>${
      outcome === 'installed' ? 'Slack is connected' : 'Slack was not connected'
    }</h1><p>${message}</p></main></body></html>`
    return new Response(page, {
      status,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-konstruct-outcome': outcome,
      },
    })
  }

  return async (req) => {
    const url = new URL(req.url)
    const path = subPath(url, 'slack-oauth')
    try {
      // supabase-js `functions.invoke('slack-oauth', { body: { action: 'install_url', tenant_id } })`
      if (req.method === 'POST' && (path === '/' || path === '/start')) {
        const read = await readJsonBody(req)
        if (!read.ok && read.reason === 'too_large') return json(413, { error: 'request too large' })
        const body = (read.ok && typeof read.value === 'object' && read.value !== null ? read.value : {}) as Record<
          string,
          unknown
        >
        if (body['action'] === 'complete') return await complete(req, body)
        if (body['action'] !== undefined && body['action'] !== 'install_url') {
          return json(400, { error: 'unknown action' })
        }
        return await start(req, url, {
          tenantId: typeof body['tenant_id'] === 'string' ? body['tenant_id'] : '',
          browserHash: typeof body['browser_hash'] === 'string' ? body['browser_hash'] : '',
        })
      }
      if (req.method !== 'GET') return text(405, 'method not allowed', { allow: 'GET, POST' })
      if (path === '/start') return await start(req, url)
      if (path === '/callback') return await callback(url)
      return text(404, 'not found')
    } catch (error) {
      log('slack_oauth.failed', { error: describeError(error), path })
      return json(500, { error: 'the install could not be completed; try again' })
    }
  }
}

const OUTCOME_MESSAGES: Record<string, string> = {
  installed: 'Your workspace is connected. Mention the agent in a channel or send it a direct message.',
  cancelled: 'The install was cancelled in Slack.',
  invalid_state: 'This install link has expired or was already used. Start again from the portal.',
  invalid_request: 'Slack did not send an authorization code. Start again from the portal.',
  slack_refused: 'Slack refused the install. Check the app\u2019s client id and secret.',
  slack_unavailable: 'Slack could not be reached. Try again in a minute.',
  enterprise_not_supported: 'Enterprise Grid org-wide installs are not supported yet; install to a workspace.',
  workspace_taken: 'This Slack workspace is already connected to another Konstruct workspace.',
  portal_required: 'Installs are finished in the portal; PORTAL_URL is not set for this function.',
}
