// The local stand-in for Supabase Auth (GoTrue) at /auth/v1: email and password
// sign-up and sign-in, refresh-token rotation, the user endpoints, logout,
// recovery / invite / email-change links (logged, since no mail leaves the
// machine), /verify, and the admin API. Request and response shapes follow
// supabase/auth as @supabase/auth-js reads them. Everything lives in the auth.*
// tables, so a file-backed stack keeps its users across restarts.
import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BodyTooLarge, readBody, type RouteHandler, type StackContext } from './http.ts'
import { apiKeyRole, claimsForKey, signSession, verifyJwt } from './keys.ts'
import type { Claims, Transaction } from './db.ts'
import { loadAuthConfig, type AuthConfig } from './auth-config.ts'

/** Status of a request whose bearer JWT is forged or expired (GoTrue itself answers 403 bad_jwt). */
export const BAD_JWT_STATUS = 401
const API_VERSION_HEADER = 'x-supabase-api-version'
const API_VERSION_2024 = '2024-01-01'
const PKCE_PREFIX = 'pkce_'
const FLOW_STATE_TTL_SECONDS = 300
const ADMIN_ROLES = new Set(['service_role', 'supabase_admin'])
const DUPLICATE_EMAIL = 'A user with this email address has already been registered'
const INVALID_LOGIN = 'Invalid login credentials'
const LINK_INVALID = 'Email link is invalid or has expired'

// Errors -------------------------------------------------------------------------

/** An error answered in GoTrue's shape; `extra` is merged into the body. */
class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

const badRequest = (code: string, msg: string) => new AuthError(400, code, msg)
const unprocessable = (code: string, msg: string) => new AuthError(422, code, msg)
const forbidden = (code: string, msg: string) => new AuthError(403, code, msg)
const notFound = (code: string, msg: string) => new AuthError(404, code, msg)

/** True when the client asked for API version 2024-01-01 or later (auth-js always does). */
function wantsApiVersion2024(req: IncomingMessage): boolean {
  const asked = req.headers[API_VERSION_HEADER]
  if (typeof asked !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(asked)) return false
  return Date.parse(asked) >= Date.parse(API_VERSION_2024)
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    // Browsers may read the version header, so auth-js can tell the error shape.
    'access-control-expose-headers': `content-range, x-total-count, link, ${API_VERSION_HEADER}`,
    ...headers,
  })
  res.end(text)
}

/** GoTrue's HandleResponseError: `{code, message}` for API version 2024-01-01, else `{code, error_code, msg}`. */
function sendError(req: IncomingMessage, res: ServerResponse, error: AuthError): void {
  if (wantsApiVersion2024(req)) {
    send(
      res,
      error.status,
      { code: error.code, message: error.message, ...error.extra },
      { [API_VERSION_HEADER]: API_VERSION_2024 },
    )
  } else {
    send(res, error.status, { code: error.status, error_code: error.code, msg: error.message, ...error.extra })
  }
}

// Small helpers --------------------------------------------------------------------

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

async function readJson(req: IncomingMessage): Promise<Json> {
  const raw = (await readBody(req)).toString('utf8')
  if (!raw.trim()) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (error) {
    throw badRequest('bad_json', `Could not parse request body as JSON: ${(error as Error).message}`)
  }
  if (!isObject(parsed)) throw badRequest('bad_json', 'Could not parse request body as JSON: expected an object')
  return parsed
}

function stringField(body: Json, key: string): string {
  const value = body[key]
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string')
    throw badRequest('bad_json', `Could not parse request body as JSON: ${key} must be a string`)
  return value
}

function objectField(body: Json, key: string): Json | undefined {
  const value = body[key]
  if (value === undefined || value === null) return undefined
  if (!isObject(value)) throw badRequest('bad_json', `Could not parse request body as JSON: ${key} must be an object`)
  return value
}

const secureToken = (bytes = 16) => randomBytes(bytes).toString('base64url')
const sha224 = (text: string) => createHash('sha224').update(text).digest('hex')
const otp = () => String(randomInt(0, 1_000_000)).padStart(6, '0')
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** GoTrue's validateEmail: required, at most 255 characters, a plausible address; lower-cased. */
function validateEmail(email: string): string {
  if (!email) throw badRequest('validation_failed', 'An email address is required')
  if (email.length > 255) throw badRequest('validation_failed', 'An email address is too long')
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    throw badRequest('validation_failed', 'Unable to validate email address: invalid format')
  }
  return email.toLowerCase()
}

function checkPasswordStrength(password: string, config: AuthConfig): void {
  if (password.length < config.minimumPasswordLength) {
    throw new AuthError(
      422,
      'weak_password',
      `Password should be at least ${config.minimumPasswordLength} characters.`,
      {
        weak_password: { reasons: ['length'] },
      },
    )
  }
}

/** Metadata merge as GoTrue's UpdateUserMetaData: a null value removes the key. */
function mergeMetadata(current: Json, update: Json): Json {
  const merged = { ...current }
  for (const [key, value] of Object.entries(update)) {
    if (value === null) delete merged[key]
    else merged[key] = value
  }
  return merged
}

/** redirect_to if the project allows it (site_url or additional_redirect_urls), else site_url. */
function allowedRedirect(config: AuthConfig, asked: string | null | undefined): string {
  if (!asked) return config.siteUrl
  let target: URL
  try {
    target = new URL(asked)
  } catch {
    return config.siteUrl
  }
  const site = new URL(config.siteUrl)
  if (target.origin === site.origin) return asked
  for (const pattern of config.additionalRedirectUrls) {
    if (asked === pattern || asked.startsWith(pattern.endsWith('/') ? pattern : `${pattern}/`)) return asked
    if (pattern.includes('*') && globToRegExp(pattern).test(asked)) return asked
  }
  return config.siteUrl
}

/** GoTrue's redirect globs: `**` crosses separators, `*` and `?` stay within `.` and `/`. */
function globToRegExp(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*'
      i++
    } else if (c === '*') source += '[^./]*'
    else if (c === '?') source += '[^./]'
    else source += c.replace(/[\\^$+.()|{}[\]]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

// Users ---------------------------------------------------------------------------

interface UserRow {
  id: string
  aud: string | null
  role: string | null
  email: string | null
  encrypted_password: string | null
  email_confirmed_at: Date | null
  invited_at: Date | null
  confirmation_token: string | null
  confirmation_sent_at: Date | null
  recovery_token: string | null
  recovery_sent_at: Date | null
  email_change: string | null
  email_change_token_new: string | null
  email_change_sent_at: Date | null
  last_sign_in_at: Date | null
  raw_app_meta_data: Json | null
  raw_user_meta_data: Json | null
  created_at: Date | null
  updated_at: Date | null
  phone: string | null
  phone_confirmed_at: Date | null
  banned_until: Date | null
  deleted_at: Date | null
  is_anonymous: boolean
}

interface IdentityRow {
  id: string
  provider_id: string
  user_id: string
  identity_data: Json
  provider: string
  last_sign_in_at: Date | null
  created_at: Date | null
  updated_at: Date | null
  email: string | null
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : undefined)

function identityJson(i: IdentityRow): Json {
  return {
    identity_id: i.id,
    id: i.provider_id,
    user_id: i.user_id,
    identity_data: i.identity_data,
    provider: i.provider,
    last_sign_in_at: iso(i.last_sign_in_at),
    created_at: iso(i.created_at),
    updated_at: iso(i.updated_at),
    email: i.email ?? undefined,
  }
}

/** The user as GoTrue's models.User marshals it (optional fields left out when empty). */
function userJson(u: UserRow, identities: IdentityRow[]): Json {
  const confirmedAt = [u.email_confirmed_at, u.phone_confirmed_at]
    .filter((d): d is Date => !!d)
    .sort((a, b) => +a - +b)[0]
  const json: Json = {
    id: u.id,
    aud: u.aud ?? '',
    role: u.role ?? '',
    email: u.email ?? '',
    email_confirmed_at: iso(u.email_confirmed_at),
    invited_at: iso(u.invited_at),
    phone: u.phone ?? '',
    phone_confirmed_at: iso(u.phone_confirmed_at),
    confirmation_sent_at: iso(u.confirmation_sent_at),
    confirmed_at: iso(confirmedAt),
    recovery_sent_at: iso(u.recovery_sent_at),
    new_email: u.email_change || undefined,
    email_change_sent_at: u.email_change ? iso(u.email_change_sent_at) : undefined,
    last_sign_in_at: iso(u.last_sign_in_at),
    app_metadata: u.raw_app_meta_data ?? {},
    user_metadata: u.raw_user_meta_data ?? {},
    identities: identities.map(identityJson),
    banned_until: iso(u.banned_until),
    created_at: iso(u.created_at),
    updated_at: iso(u.updated_at),
    deleted_at: iso(u.deleted_at),
    is_anonymous: u.is_anonymous,
  }
  for (const key of Object.keys(json)) if (json[key] === undefined) delete json[key]
  return json
}

async function findUser(tx: Transaction, where: string, params: unknown[]): Promise<UserRow | undefined> {
  const { rows } = await tx.query<UserRow>(`select * from auth.users where ${where} limit 1`, params)
  return rows[0]
}

const findUserById = (tx: Transaction, id: string) => findUser(tx, 'id = $1', [id])
const findUserByEmail = (tx: Transaction, email: string) => findUser(tx, 'lower(email) = lower($1)', [email])

async function identitiesOf(tx: Transaction, userId: string): Promise<IdentityRow[]> {
  const { rows } = await tx.query<IdentityRow>('select * from auth.identities where user_id = $1 order by created_at', [
    userId,
  ])
  return rows
}

async function loadUserJson(tx: Transaction, id: string): Promise<Json> {
  const user = await findUserById(tx, id)
  if (!user) throw notFound('user_not_found', 'User not found')
  return userJson(user, await identitiesOf(tx, id))
}

const isConfirmed = (u: UserRow) => !!u.email_confirmed_at
const isBanned = (u: UserRow) => !!u.banned_until && new Date(u.banned_until).getTime() > Date.now()

interface NewUser {
  email: string
  password?: string
  userMetadata?: Json
  appMetadata?: Json
  confirmed?: boolean
  invited?: boolean
  role?: string
  id?: string
}

/** Inserts a user with its email identity, as GoTrue's signupNewUser + createNewIdentity. */
async function insertUser(tx: Transaction, input: NewUser): Promise<UserRow> {
  const appMetadata = { provider: 'email', providers: ['email'], ...(input.appMetadata ?? {}) }
  const { rows } = await tx.query<UserRow>(
    `insert into auth.users (id, instance_id, aud, role, email, encrypted_password, email_confirmed_at, invited_at,
                             raw_app_meta_data, raw_user_meta_data, confirmation_token, recovery_token)
     values (coalesce($1::uuid, gen_random_uuid()), '00000000-0000-0000-0000-000000000000', 'authenticated', $2, $3,
             case when $4::text is null then '' else extensions.crypt($4, extensions.gen_salt('bf')) end,
             case when $5 then now() end, case when $6 then now() end, $7, $8, '', '')
     returning *`,
    [
      input.id ?? null,
      input.role ?? 'authenticated',
      input.email,
      input.password ?? null,
      !!input.confirmed,
      !!input.invited,
      appMetadata,
      input.userMetadata ?? {},
    ],
  )
  const user = rows[0]
  const identityData: Json = {
    ...(input.userMetadata ?? {}),
    sub: user.id,
    email: input.email,
    email_verified: !!input.confirmed,
    phone_verified: false,
  }
  await tx.query(
    `insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at)
     values ($1, $2, $3, 'email', now())`,
    [user.id, user.id, identityData],
  )
  return user
}

async function confirmEmail(tx: Transaction, userId: string): Promise<void> {
  await tx.query(
    `update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()), confirmation_token = '', updated_at = now()
     where id = $1`,
    [userId],
  )
  await tx.query(
    `update auth.identities set identity_data = identity_data || '{"email_verified": true}'::jsonb, updated_at = now()
     where user_id = $1 and provider = 'email'`,
    [userId],
  )
}

async function passwordMatches(tx: Transaction, userId: string, password: string): Promise<boolean> {
  const { rows } = await tx.query<{ ok: boolean }>(
    `select coalesce(encrypted_password <> '' and extensions.crypt($2, encrypted_password) = encrypted_password, false) as ok
     from auth.users where id = $1`,
    [userId, password],
  )
  return rows[0]?.ok === true
}

async function setPassword(tx: Transaction, userId: string, password: string): Promise<void> {
  await tx.query(
    `update auth.users set encrypted_password = extensions.crypt($2, extensions.gen_salt('bf')), updated_at = now() where id = $1`,
    [userId, password],
  )
}

// Sessions and tokens ----------------------------------------------------------------

interface SessionResponse extends Json {
  access_token: string
  token_type: 'bearer'
  expires_in: number
  expires_at: number
  refresh_token: string
  user: Json
}

function jwtPayload(token: string): Json {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Json
}

/** Signs the access token of a session with GoTrue's claims. */
async function accessToken(
  ctx: StackContext,
  tx: Transaction,
  user: UserRow,
  sessionId: string,
): Promise<{ token: string; expiresAt: number }> {
  const config = loadAuthConfig(ctx.root)
  const { rows } = await tx.query<{ method: string; at: number }>(
    `select authentication_method as method, extract(epoch from created_at)::bigint::int as at
     from auth.mfa_amr_claims where session_id = $1 order by created_at desc`,
    [sessionId],
  )
  const claims = {
    iss: `${ctx.url}/auth/v1`,
    sub: user.id,
    aud: user.aud ?? 'authenticated',
    email: user.email ?? '',
    phone: user.phone ?? '',
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    role: user.role ?? 'authenticated',
    aal: 'aal1',
    amr: rows.map((r) => ({ method: r.method, timestamp: r.at })),
    session_id: sessionId,
    is_anonymous: user.is_anonymous,
  }
  const token = await signSession(ctx.keys, claims, config.jwtExpiry)
  return { token, expiresAt: jwtPayload(token).exp as number }
}

async function sessionResponse(
  ctx: StackContext,
  tx: Transaction,
  userId: string,
  sessionId: string,
  refreshToken: string,
): Promise<SessionResponse> {
  const user = await findUserById(tx, userId)
  if (!user) throw notFound('user_not_found', 'User not found')
  const { token, expiresAt } = await accessToken(ctx, tx, user, sessionId)
  return {
    access_token: token,
    token_type: 'bearer',
    expires_in: loadAuthConfig(ctx.root).jwtExpiry,
    expires_at: expiresAt,
    refresh_token: refreshToken,
    user: userJson(user, await identitiesOf(tx, userId)),
  }
}

/** A new session and its first refresh token (GoTrue's issueRefreshToken). */
async function issueSession(
  ctx: StackContext,
  tx: Transaction,
  userId: string,
  method: string,
): Promise<SessionResponse> {
  await tx.query('update auth.users set last_sign_in_at = now() where id = $1', [userId])
  await tx.query(`update auth.identities set last_sign_in_at = now() where user_id = $1`, [userId])
  const { rows } = await tx.query<{ id: string }>('insert into auth.sessions (user_id) values ($1) returning id', [
    userId,
  ])
  const sessionId = rows[0].id
  await tx.query('insert into auth.mfa_amr_claims (session_id, authentication_method) values ($1, $2)', [
    sessionId,
    method,
  ])
  const token = secureToken()
  await tx.query('insert into auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)', [
    token,
    userId,
    sessionId,
  ])
  return sessionResponse(ctx, tx, userId, sessionId, token)
}

// Request authentication ----------------------------------------------------------------

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization
  if (!header) return undefined
  const match = /^bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}

/** Kong's key-auth in front of Supabase: every request carries a key of this project. */
async function checkApiKey(req: IncomingMessage, url: URL, ctx: StackContext): Promise<AuthError | undefined> {
  const header = req.headers.apikey
  const key = (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('apikey') ?? bearerToken(req)
  if (!key) return new AuthError(401, 'no_authorization', 'No API key found in request')
  if (apiKeyRole(ctx.keys, key)) return undefined
  return new AuthError(401, 'no_authorization', 'Invalid API key')
}

async function requireClaims(req: IncomingMessage, ctx: StackContext): Promise<Claims> {
  const token = bearerToken(req)
  if (!token) throw new AuthError(401, 'no_authorization', 'This endpoint requires a Bearer token')
  // An API key as the bearer (supabase-js without a session) stands for the key's role.
  const keyClaims = claimsForKey(ctx.keys, token)
  if (keyClaims) return keyClaims
  const check = await verifyJwt(ctx.keys, token)
  if (!check.ok) {
    const why = check.reason === 'expired' ? 'token has invalid claims: token is expired' : 'signature is invalid'
    throw new AuthError(BAD_JWT_STATUS, 'bad_jwt', `invalid JWT: unable to parse or verify signature, ${why}`)
  }
  return check.claims
}

interface Caller {
  claims: Claims
  user: UserRow
  sessionId?: string
}

/** GoTrue's requireAuthentication: a valid JWT whose user and session still exist. */
async function requireUser(req: IncomingMessage, ctx: StackContext, tx: Transaction): Promise<Caller> {
  const claims = await requireClaims(req, ctx)
  if (!claims.sub) throw forbidden('bad_jwt', 'invalid claim: missing sub claim')
  if (!uuidPattern.test(claims.sub)) throw badRequest('bad_jwt', 'invalid claim: sub claim must be a UUID')
  const user = await findUserById(tx, claims.sub)
  if (!user) throw forbidden('user_not_found', 'User from sub claim in JWT does not exist')
  const sessionId = typeof claims.session_id === 'string' ? claims.session_id : undefined
  if (sessionId) {
    if (!uuidPattern.test(sessionId)) throw forbidden('bad_jwt', 'invalid claim: session_id claim must be a UUID')
    const { rows } = await tx.query('select 1 from auth.sessions where id = $1', [sessionId])
    if (rows.length === 0) throw forbidden('session_not_found', 'Session from session_id claim in JWT does not exist')
  }
  return { claims, user, sessionId }
}

async function requireAdmin(req: IncomingMessage, ctx: StackContext): Promise<Claims> {
  const claims = await requireClaims(req, ctx)
  if (!ADMIN_ROLES.has(claims.role)) throw forbidden('not_admin', 'User not allowed')
  return claims
}

// Emailed links ------------------------------------------------------------------------

type LinkType = 'signup' | 'invite' | 'recovery' | 'magiclink' | 'email_change'

interface Link {
  action_link: string
  email_otp: string
  hashed_token: string
  verification_type: LinkType
  redirect_to: string
}

/** Stores a fresh one-time token for `type` on the user and builds the link GoTrue would mail. */
async function createLink(
  ctx: StackContext,
  tx: Transaction,
  user: UserRow,
  type: LinkType,
  redirectTo: string,
  options: { pkce?: boolean; email?: string } = {},
): Promise<Link> {
  const code = otp()
  const address = options.email ?? user.email ?? ''
  const hash = sha224(address + code)
  const stored = options.pkce ? PKCE_PREFIX + hash : hash
  if (type === 'signup' || type === 'invite') {
    await tx.query('update auth.users set confirmation_token = $2, confirmation_sent_at = now() where id = $1', [
      user.id,
      stored,
    ])
  } else if (type === 'recovery' || type === 'magiclink') {
    await tx.query('update auth.users set recovery_token = $2, recovery_sent_at = now() where id = $1', [
      user.id,
      stored,
    ])
  } else {
    await tx.query(
      'update auth.users set email_change = $2, email_change_token_new = $3, email_change_sent_at = now() where id = $1',
      [user.id, address, stored],
    )
  }
  const link = new URL(`${ctx.url}/auth/v1/verify`)
  link.searchParams.set('token', stored)
  link.searchParams.set('type', type)
  link.searchParams.set('redirect_to', redirectTo)
  return {
    action_link: link.toString(),
    email_otp: code,
    hashed_token: stored,
    verification_type: type,
    redirect_to: redirectTo,
  }
}

const mailSubjects: Record<LinkType, string> = {
  signup: 'Confirm your signup',
  invite: 'You have been invited',
  recovery: 'Reset your password',
  magiclink: 'Your magic link',
  email_change: 'Confirm email change',
}

/** Stands in for the mailer: the mail that Supabase would send, as a log line. */
function logMail(ctx: StackContext, to: string, link: Link): void {
  ctx.log(`auth: mail to ${to} (${mailSubjects[link.verification_type]}): ${link.action_link} (code ${link.email_otp})`)
}

/** PKCE: remembers the challenge so /verify can hand out an auth code instead of tokens. */
async function saveFlowState(tx: Transaction, userId: string, body: Json, method: string): Promise<boolean> {
  const challenge = stringField(body, 'code_challenge')
  const challengeMethod = stringField(body, 'code_challenge_method').toLowerCase()
  if (!challenge && !challengeMethod) return false
  if (!challenge || !['s256', 'plain'].includes(challengeMethod)) {
    throw badRequest('validation_failed', 'PKCE flow requires code_challenge_method and code_challenge')
  }
  await tx.query('delete from auth.flow_state where user_id = $1 and authentication_method = $2', [userId, method])
  await tx.query(
    `insert into auth.flow_state (user_id, auth_code, code_challenge_method, code_challenge, provider_type, authentication_method)
     values ($1, $2, $3, $4, $5, $5)`,
    [userId, randomBytes(16).toString('hex'), challengeMethod, challenge, method],
  )
  return true
}

// Handlers ----------------------------------------------------------------------------

interface Call {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  ctx: StackContext
  config: AuthConfig
  params: Record<string, string>
}

async function signup({ req, res, ctx, config }: Call): Promise<void> {
  if (!config.signupEnabled) throw unprocessable('signup_disabled', 'Signups not allowed for this instance')
  const body = await readJson(req)
  // No email and no phone: an anonymous sign-in (supabase.auth.signInAnonymously()).
  if (!stringField(body, 'email') && !stringField(body, 'phone')) return anonymousSignup(res, ctx, config, body)
  const password = stringField(body, 'password')
  const data = objectField(body, 'data') ?? {}
  if (stringField(body, 'phone')) throw badRequest('phone_provider_disabled', 'Phone signups are disabled')
  if (!password) throw badRequest('validation_failed', 'Signup requires a valid password')
  checkPasswordStrength(password, config)
  const email = validateEmail(stringField(body, 'email'))
  const redirectTo = allowedRedirect(config, new URL(req.url ?? '/', ctx.url).searchParams.get('redirect_to'))
  const result = await ctx.db.asOwner(async (tx) => {
    const existing = await findUserByEmail(tx, email)
    if (existing && isConfirmed(existing)) {
      if (config.mailerAutoconfirm) throw unprocessable('user_already_exists', 'User already registered')
      // GoTrue does not reveal that the address is taken: an obfuscated user comes back.
      const fake: UserRow = { ...existing, id: randomUUID(), email_confirmed_at: null, last_sign_in_at: null }
      return { ...userJson(fake, []), user_metadata: data, app_metadata: { provider: 'email', providers: ['email'] } }
    }
    if (existing && config.mailerAutoconfirm) {
      // An unconfirmed account (e.g. invited): signing up claims it only with its password, or sets one it lacks.
      if (!existing.encrypted_password) await setPassword(tx, existing.id, password)
      else if (!(await passwordMatches(tx, existing.id, password))) {
        throw unprocessable('user_already_exists', 'User already registered')
      }
    }
    const user = existing ?? (await insertUser(tx, { email, password, userMetadata: data }))
    if (config.mailerAutoconfirm) {
      await confirmEmail(tx, user.id)
      return issueSession(ctx, tx, user.id, 'password')
    }
    const pkce = await saveFlowState(tx, user.id, body, 'email/signup')
    const link = await createLink(ctx, tx, user, 'signup', redirectTo, { pkce })
    logMail(ctx, email, link)
    return loadUserJson(tx, user.id)
  })
  send(res, 200, result)
}

/**
 * GoTrue's anonymous sign-in: a user with no identity, `is_anonymous` true and the
 * `authenticated` role, signed in at once (amr `anonymous`). Off unless config.toml's
 * [auth] enable_anonymous_sign_ins says so.
 */
async function anonymousSignup(res: ServerResponse, ctx: StackContext, config: AuthConfig, body: Json): Promise<void> {
  if (!config.anonymousSignIns) throw unprocessable('anonymous_provider_disabled', 'Anonymous sign-ins are disabled')
  const data = objectField(body, 'data') ?? {}
  const session = await ctx.db.asOwner(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      `insert into auth.users (instance_id, aud, role, is_anonymous, raw_app_meta_data, raw_user_meta_data,
                               confirmation_token, recovery_token)
       values ('00000000-0000-0000-0000-000000000000', 'authenticated', 'authenticated', true, '{}', $1, '', '')
       returning id`,
      [data],
    )
    return issueSession(ctx, tx, rows[0].id, 'anonymous')
  })
  send(res, 200, session)
}

async function token({ req, res, url, ctx, config }: Call): Promise<void> {
  const grantType = url.searchParams.get('grant_type')
  const body = await readJson(req)
  if (grantType === 'password') return send(res, 200, await passwordGrant(ctx, body))
  if (grantType === 'refresh_token') return send(res, 200, await refreshGrant(ctx, config, body))
  if (grantType === 'pkce') return send(res, 200, await pkceGrant(ctx, body))
  throw badRequest('validation_failed', 'unsupported_grant_type')
}

async function passwordGrant(ctx: StackContext, body: Json): Promise<SessionResponse> {
  const email = stringField(body, 'email')
  const password = stringField(body, 'password')
  if (stringField(body, 'phone')) throw unprocessable('phone_provider_disabled', 'Phone logins are disabled')
  if (!email) throw badRequest('validation_failed', 'missing email or phone')
  return ctx.db.asOwner(async (tx) => {
    const user = await findUserByEmail(tx, email)
    if (!user || !user.encrypted_password) throw badRequest('invalid_credentials', INVALID_LOGIN)
    if (isBanned(user)) throw badRequest('user_banned', 'User is banned')
    if (!(await passwordMatches(tx, user.id, password))) throw badRequest('invalid_credentials', INVALID_LOGIN)
    if (!isConfirmed(user)) throw badRequest('email_not_confirmed', 'Email not confirmed')
    return issueSession(ctx, tx, user.id, 'password')
  })
}

interface RefreshRow {
  id: string
  token: string
  user_id: string
  revoked: boolean
  parent: string | null
  session_id: string | null
  revoked_seconds_ago: number
  not_after: Date | null
}

/**
 * GoTrue's refresh-token rotation: the presented token is revoked and a child issued.
 * A revoked token still works within the reuse interval if its child is the live one;
 * otherwise it is reuse, and the whole session's tokens are revoked.
 */
async function refreshGrant(ctx: StackContext, config: AuthConfig, body: Json): Promise<SessionResponse> {
  const presented = stringField(body, 'refresh_token')
  if (!presented) throw badRequest('validation_failed', 'refresh_token required')
  const outcome = await ctx.db.asOwner(async (tx): Promise<SessionResponse | AuthError> => {
    const { rows } = await tx.query<RefreshRow>(
      `select t.id::text, t.token, t.user_id, t.revoked, t.parent, t.session_id, s.not_after,
              extract(epoch from (now() - t.updated_at))::float8 as revoked_seconds_ago
       from auth.refresh_tokens t join auth.sessions s on s.id = t.session_id
       where t.token = $1`,
      [presented],
    )
    const found = rows[0]
    if (!found || !found.session_id)
      return badRequest('refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found')
    const user = await findUserById(tx, found.user_id)
    if (!user) return badRequest('refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found')
    if (isBanned(user)) return badRequest('user_banned', 'Invalid Refresh Token: User Banned')
    if (found.not_after && new Date(found.not_after).getTime() < Date.now()) {
      return badRequest('session_expired', 'Invalid Refresh Token: Session Expired')
    }
    if (found.revoked) {
      const { rows: live } = await tx.query<{ token: string; parent: string | null }>(
        `select token, parent from auth.refresh_tokens where session_id = $1 and not revoked order by id desc limit 1`,
        [found.session_id],
      )
      const child = live[0]
      if (child && child.parent === found.token && found.revoked_seconds_ago < config.refreshTokenReuseInterval) {
        await tx.query('update auth.sessions set updated_at = now() where id = $1', [found.session_id])
        return sessionResponse(ctx, tx, user.id, found.session_id, child.token)
      }
      if (config.refreshTokenRotation) {
        await tx.query(
          'update auth.refresh_tokens set revoked = true, updated_at = now() where session_id = $1 and not revoked',
          [found.session_id],
        )
      }
      ctx.log(`auth: refresh token reuse detected for user ${user.id}; the session's tokens are revoked`)
      return badRequest('refresh_token_already_used', 'Invalid Refresh Token: Already Used')
    }
    await tx.query('update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1', [found.id])
    const next = secureToken()
    await tx.query('insert into auth.refresh_tokens (token, user_id, parent, session_id) values ($1, $2, $3, $4)', [
      next,
      user.id,
      found.token,
      found.session_id,
    ])
    await tx.query('update auth.sessions set updated_at = now() where id = $1', [found.session_id])
    return sessionResponse(ctx, tx, user.id, found.session_id, next)
  })
  // The revocation above commits even when the answer is an error.
  if (outcome instanceof AuthError) throw outcome
  return outcome
}

async function pkceGrant(ctx: StackContext, body: Json): Promise<SessionResponse> {
  const authCode = stringField(body, 'auth_code')
  const verifier = stringField(body, 'code_verifier')
  if (!authCode || !verifier) {
    throw badRequest('validation_failed', 'invalid request: both auth code and code verifier should be non-empty')
  }
  return ctx.db.asOwner(async (tx) => {
    const { rows } = await tx.query<{
      id: string
      user_id: string | null
      code_challenge: string
      code_challenge_method: string
      authentication_method: string
      age: number
    }>(
      `select id, user_id, code_challenge, code_challenge_method, authentication_method,
              extract(epoch from (now() - coalesce(auth_code_issued_at, created_at)))::float8 as age
       from auth.flow_state where auth_code = $1`,
      [authCode],
    )
    const flow = rows[0]
    if (!flow || !flow.user_id) throw notFound('flow_state_not_found', 'invalid flow state, no valid flow state found')
    if (flow.age > FLOW_STATE_TTL_SECONDS)
      throw unprocessable('flow_state_expired', 'invalid flow state, flow state has expired')
    const computed =
      flow.code_challenge_method === 's256' ? createHash('sha256').update(verifier).digest('base64url') : verifier
    if (!sameText(computed, flow.code_challenge)) {
      throw badRequest('bad_code_verifier', 'code challenge does not match previously saved code verifier')
    }
    await tx.query('delete from auth.flow_state where id = $1', [flow.id])
    return issueSession(ctx, tx, flow.user_id, flow.authentication_method)
  })
}

async function getUser({ req, res, ctx }: Call): Promise<void> {
  const user = await ctx.db.asOwner(async (tx) => {
    const caller = await requireUser(req, ctx, tx)
    return userJson(caller.user, await identitiesOf(tx, caller.user.id))
  })
  send(res, 200, user)
}

async function updateUser({ req, res, ctx, config }: Call): Promise<void> {
  const body = await readJson(req)
  const newEmail = stringField(body, 'email')
  const password = body.password === undefined || body.password === null ? undefined : stringField(body, 'password')
  const data = objectField(body, 'data')
  const appData = objectField(body, 'app_metadata')
  if (stringField(body, 'phone')) throw unprocessable('phone_provider_disabled', 'Phone logins are disabled')
  const redirectTo = allowedRedirect(config, new URL(req.url ?? '/', ctx.url).searchParams.get('redirect_to'))
  const user = await ctx.db.asOwner(async (tx) => {
    const { user, sessionId } = await requireUser(req, ctx, tx)
    const email = newEmail ? validateEmail(newEmail) : ''
    if (password !== undefined) checkPasswordStrength(password, config)
    if (appData) throw forbidden('not_admin', 'Updating app_metadata requires admin privileges')
    if (email && email !== user.email) {
      const other = await findUserByEmail(tx, email)
      if (other && other.id !== user.id) throw unprocessable('email_exists', DUPLICATE_EMAIL)
    }
    if (password !== undefined) {
      if (password && (await passwordMatches(tx, user.id, password))) {
        throw unprocessable('same_password', 'New password should be different from the old password.')
      }
      await setPassword(tx, user.id, password)
      // GoTrue's UpdatePassword: every other session of the user ends.
      await tx.query('delete from auth.sessions where user_id = $1 and id is distinct from $2::uuid', [
        user.id,
        sessionId ?? null,
      ])
    }
    if (data) {
      await tx.query('update auth.users set raw_user_meta_data = $2, updated_at = now() where id = $1', [
        user.id,
        mergeMetadata(user.raw_user_meta_data ?? {}, data),
      ])
    }
    if (email && email !== user.email) {
      // A permanent user's new address is confirmed by the link sent to it.
      const pkce = await saveFlowState(tx, user.id, body, 'email_change')
      const link = await createLink(ctx, tx, user, 'email_change', redirectTo, { pkce, email })
      logMail(ctx, email, link)
    }
    return loadUserJson(tx, user.id)
  })
  send(res, 200, user)
}

async function logout({ req, res, url, ctx }: Call): Promise<void> {
  const scope = url.searchParams.get('scope') ?? 'global'
  if (!['', 'global', 'local', 'others'].includes(scope)) {
    throw badRequest('validation_failed', `Unsupported logout scope "${scope}"`)
  }
  await ctx.db.asOwner(async (tx) => {
    const { user, sessionId } = await requireUser(req, ctx, tx)
    if (sessionId && scope === 'local') await tx.query('delete from auth.sessions where id = $1', [sessionId])
    else if (sessionId && scope === 'others') {
      await tx.query('delete from auth.sessions where user_id = $1 and id <> $2', [user.id, sessionId])
    } else await tx.query('delete from auth.sessions where user_id = $1', [user.id])
  })
  res.writeHead(204, { 'access-control-expose-headers': `content-range, x-total-count, link, ${API_VERSION_HEADER}` })
  res.end()
}

async function recover({ req, res, ctx, config }: Call): Promise<void> {
  const body = await readJson(req)
  const email = validateEmail(stringField(body, 'email'))
  const redirectTo = allowedRedirect(config, new URL(req.url ?? '/', ctx.url).searchParams.get('redirect_to'))
  await ctx.db.asOwner(async (tx) => {
    const user = await findUserByEmail(tx, email)
    // An unknown address gets the same answer, so it cannot be probed.
    if (!user) return
    const pkce = await saveFlowState(tx, user.id, body, 'recovery')
    const link = await createLink(ctx, tx, user, 'recovery', redirectTo, { pkce })
    logMail(ctx, email, link)
  })
  send(res, 200, {})
}

interface Verified {
  userId: string
  type: string
  pkce: boolean
}

/** Finds the user a one-time token belongs to and consumes it (GoTrue's verifyTokenHash + *Verify). */
async function consumeToken(tx: Transaction, config: AuthConfig, type: string, tokenHash: string): Promise<Verified> {
  const column: Record<string, [string, string]> = {
    signup: ['confirmation_token', 'confirmation_sent_at'],
    invite: ['confirmation_token', 'confirmation_sent_at'],
    recovery: ['recovery_token', 'recovery_sent_at'],
    magiclink: ['recovery_token', 'recovery_sent_at'],
    email_change: ['email_change_token_new', 'email_change_sent_at'],
  }
  const candidates = type === 'email' ? ['signup', 'magiclink'] : [type]
  if (!candidates.every((c) => c in column)) throw badRequest('validation_failed', 'Unsupported verification type')
  for (const candidate of candidates) {
    const [tokenColumn, sentColumn] = column[candidate]
    const { rows } = await tx.query<UserRow & { sent_at: Date | null }>(
      `select *, ${sentColumn} as sent_at from auth.users
       where ${tokenColumn} <> '' and (${tokenColumn} = $1 or ${tokenColumn} = $2) limit 1`,
      [tokenHash, PKCE_PREFIX + tokenHash],
    )
    const user = rows[0]
    if (!user) continue
    if (!user.sent_at || new Date(user.sent_at).getTime() + config.otpExpiry * 1000 < Date.now()) {
      throw forbidden('otp_expired', LINK_INVALID)
    }
    const pkce = (user as unknown as Record<string, string>)[tokenColumn].startsWith(PKCE_PREFIX)
    if (candidate === 'signup' || candidate === 'invite') {
      if (!user.encrypted_password && user.invited_at) {
        // As GoTrue: an invited user gets a random password until they choose one.
        await setPassword(tx, user.id, randomBytes(32).toString('hex'))
      }
      await confirmEmail(tx, user.id)
    } else if (candidate === 'recovery' || candidate === 'magiclink') {
      await tx.query(`update auth.users set recovery_token = '', updated_at = now() where id = $1`, [user.id])
      await confirmEmail(tx, user.id)
    } else {
      const taken = await findUserByEmail(tx, user.email_change ?? '')
      if (taken && taken.id !== user.id) throw unprocessable('email_exists', DUPLICATE_EMAIL)
      await tx.query(
        `update auth.users set email = email_change, email_change = '', email_change_token_new = '',
                email_change_sent_at = null, email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now()
         where id = $1`,
        [user.id],
      )
      await tx.query(
        `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text), updated_at = now()
         where user_id = $1 and provider = 'email'`,
        [user.id, user.email_change],
      )
    }
    return { userId: user.id, type: candidate, pkce }
  }
  throw forbidden('otp_expired', LINK_INVALID)
}

/** GET /verify: the link in the mail. Redirects with the session in the fragment (or ?code= for PKCE). */
async function verifyGet({ res, url, ctx, config }: Call): Promise<void> {
  const token = url.searchParams.get('token') ?? ''
  const type = url.searchParams.get('type') ?? ''
  const redirectTo = allowedRedirect(config, url.searchParams.get('redirect_to'))
  if (!type) throw badRequest('validation_failed', 'Verify requires a verification type')
  if (!token) throw badRequest('validation_failed', 'Verify requires a token or a token hash')
  const hash = token.startsWith(PKCE_PREFIX) ? token.slice(PKCE_PREFIX.length) : token
  let location: string
  try {
    location = await ctx.db.asOwner(async (tx) => {
      const verified = await consumeToken(tx, config, type, hash)
      if (verified.pkce) {
        const method = verified.type === 'signup' ? 'email/signup' : verified.type
        const { rows } = await tx.query<{ auth_code: string }>(
          `update auth.flow_state set auth_code_issued_at = now(), updated_at = now()
           where user_id = $1 and authentication_method = $2 returning auth_code`,
          [verified.userId, method],
        )
        if (!rows[0]) throw badRequest('flow_state_not_found', 'No associated flow state found.')
        const target = new URL(redirectTo)
        target.searchParams.set('code', rows[0].auth_code)
        return target.toString()
      }
      const session = await issueSession(ctx, tx, verified.userId, 'otp')
      const fragment = new URLSearchParams({
        access_token: session.access_token,
        expires_at: String(session.expires_at),
        expires_in: String(session.expires_in),
        refresh_token: session.refresh_token,
        token_type: session.token_type,
        type,
      })
      return `${redirectTo}#${fragment.toString()}`
    })
  } catch (error) {
    if (!(error instanceof AuthError)) throw error
    const oauth: Record<number, string> = { 400: 'invalid_request', 401: 'unauthorized_client', 403: 'access_denied' }
    const fragment = new URLSearchParams()
    if (oauth[error.status]) fragment.set('error', oauth[error.status])
    fragment.set('error_code', error.code)
    fragment.set('error_description', error.message)
    location = `${redirectTo.split('#')[0]}#${fragment.toString()}`
  }
  res.writeHead(303, { location })
  res.end()
}

/** POST /verify: an emailed code (with the address) or a token hash, exchanged for a session. */
async function verifyPost({ req, res, ctx, config }: Call): Promise<void> {
  const body = await readJson(req)
  const type = stringField(body, 'type')
  const token = stringField(body, 'token')
  const tokenHash = stringField(body, 'token_hash')
  if (!type) throw badRequest('validation_failed', 'Verify requires a verification type')
  if ((!token && !tokenHash) || (token && tokenHash)) {
    throw badRequest('validation_failed', 'Verify requires either a token or a token hash')
  }
  if (stringField(body, 'phone')) throw badRequest('validation_failed', 'Phone verification is not available locally')
  let hash = tokenHash.startsWith(PKCE_PREFIX) ? tokenHash.slice(PKCE_PREFIX.length) : tokenHash
  if (token) {
    let email: string
    try {
      email = validateEmail(stringField(body, 'email'))
    } catch {
      throw unprocessable('validation_failed', 'Invalid email format')
    }
    hash = sha224(email + token)
  }
  const session = await ctx.db.asOwner(async (tx) => {
    const verified = await consumeToken(tx, config, type, hash)
    return issueSession(ctx, tx, verified.userId, 'otp')
  })
  send(res, 200, session)
}

// Admin ---------------------------------------------------------------------------------

function parseBanDuration(value: string): Date | null {
  if (value === 'none') return null
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw badRequest('validation_failed', 'invalid format for ban duration')
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0)
  return new Date(Date.now() + ms)
}

async function adminCreateUser({ req, res, ctx, config }: Call): Promise<void> {
  await requireAdmin(req, ctx)
  const body = await readJson(req)
  if (stringField(body, 'phone')) throw badRequest('validation_failed', 'Phone users are not available locally')
  const email = validateEmail(stringField(body, 'email'))
  const password = body.password === undefined || body.password === null ? undefined : stringField(body, 'password')
  if (password !== undefined) checkPasswordStrength(password, config)
  const id = stringField(body, 'id')
  if (id && !uuidPattern.test(id)) throw badRequest('validation_failed', 'id must be a UUID')
  const banDuration = stringField(body, 'ban_duration')
  const user = await ctx.db.asOwner(async (tx) => {
    if (await findUserByEmail(tx, email)) throw unprocessable('email_exists', DUPLICATE_EMAIL)
    const created = await insertUser(tx, {
      id: id || undefined,
      email,
      password,
      userMetadata: objectField(body, 'user_metadata') ?? {},
      appMetadata: objectField(body, 'app_metadata') ?? {},
      confirmed: body.email_confirm === true,
      role: stringField(body, 'role') || undefined,
    })
    if (banDuration) {
      await tx.query('update auth.users set banned_until = $2 where id = $1', [
        created.id,
        parseBanDuration(banDuration),
      ])
    }
    return loadUserJson(tx, created.id)
  })
  send(res, 200, user)
}

async function adminListUsers({ req, res, url, ctx }: Call): Promise<void> {
  await requireAdmin(req, ctx)
  const page = Math.max(1, Number.parseInt(url.searchParams.get('page') || '1', 10) || 1)
  const perPage = Math.min(1000, Math.max(1, Number.parseInt(url.searchParams.get('per_page') || '50', 10) || 50))
  const filter = url.searchParams.get('filter') ?? ''
  const { users, total } = await ctx.db.asOwner(async (tx) => {
    const where = `aud = 'authenticated' and ($1 = '' or email ilike '%' || $1 || '%' or raw_user_meta_data->>'full_name' ilike '%' || $1 || '%')`
    const count = await tx.query<{ n: number }>(`select count(*)::int as n from auth.users where ${where}`, [filter])
    const { rows } = await tx.query<UserRow>(
      `select * from auth.users where ${where} order by created_at desc, id limit $2 offset $3`,
      [filter, perPage, (page - 1) * perPage],
    )
    const out: Json[] = []
    for (const row of rows) out.push(userJson(row, await identitiesOf(tx, row.id)))
    return { users: out, total: count.rows[0].n }
  })
  const lastPage = Math.max(1, Math.ceil(total / perPage))
  const links: string[] = []
  if (page < lastPage) links.push(`</admin/users?page=${page + 1}&per_page=${perPage}>; rel="next"`)
  links.push(`</admin/users?page=${lastPage}&per_page=${perPage}>; rel="last"`)
  send(res, 200, { users, aud: 'authenticated' }, { 'x-total-count': String(total), link: links.join(', ') })
}

function userIdParam(call: Call): string {
  const id = call.params.id
  if (!uuidPattern.test(id)) throw notFound('validation_failed', 'user_id must be an UUID')
  return id
}

async function adminGetUser(call: Call): Promise<void> {
  await requireAdmin(call.req, call.ctx)
  const id = userIdParam(call)
  send(call.res, 200, await call.ctx.db.asOwner((tx) => loadUserJson(tx, id)))
}

async function adminUpdateUser(call: Call): Promise<void> {
  const { req, res, ctx, config } = call
  await requireAdmin(req, ctx)
  const id = userIdParam(call)
  const body = await readJson(req)
  const email = stringField(body, 'email') ? validateEmail(stringField(body, 'email')) : ''
  const password = body.password === undefined || body.password === null ? undefined : stringField(body, 'password')
  if (password !== undefined) checkPasswordStrength(password, config)
  const userMetadata = objectField(body, 'user_metadata')
  const appMetadata = objectField(body, 'app_metadata')
  const role = stringField(body, 'role')
  const banDuration = stringField(body, 'ban_duration')
  const user = await ctx.db.asOwner(async (tx) => {
    const user = await findUserById(tx, id)
    if (!user) throw notFound('user_not_found', 'User not found')
    if (email && email !== user.email) {
      const other = await findUserByEmail(tx, email)
      if (other && other.id !== id) throw unprocessable('email_exists', DUPLICATE_EMAIL)
      await tx.query(`update auth.users set email = $2, email_change = '', email_change_token_new = '' where id = $1`, [
        id,
        email,
      ])
      await tx.query(
        `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text), updated_at = now()
         where user_id = $1 and provider = 'email'`,
        [id, email],
      )
    }
    if (password !== undefined) await setPassword(tx, id, password)
    if (body.email_confirm === true) await confirmEmail(tx, id)
    if (userMetadata) {
      await tx.query('update auth.users set raw_user_meta_data = $2 where id = $1', [
        id,
        mergeMetadata(user.raw_user_meta_data ?? {}, userMetadata),
      ])
    }
    if (appMetadata) {
      await tx.query('update auth.users set raw_app_meta_data = $2 where id = $1', [
        id,
        mergeMetadata(user.raw_app_meta_data ?? {}, appMetadata),
      ])
    }
    if (role) await tx.query('update auth.users set role = $2 where id = $1', [id, role])
    if (banDuration) {
      const until = parseBanDuration(banDuration)
      await tx.query('update auth.users set banned_until = $2 where id = $1', [id, until])
      if (until) await tx.query('delete from auth.sessions where user_id = $1', [id])
    }
    await tx.query('update auth.users set updated_at = now() where id = $1', [id])
    return loadUserJson(tx, id)
  })
  send(res, 200, user)
}

async function adminDeleteUser(call: Call): Promise<void> {
  const { req, res, ctx } = call
  await requireAdmin(req, ctx)
  const id = userIdParam(call)
  const body = await readJson(req)
  const soft = body.should_soft_delete === true
  await ctx.db.asOwner(async (tx) => {
    if (!(await findUserById(tx, id))) throw notFound('user_not_found', 'User not found')
    if (!soft) {
      await tx.query('delete from auth.users where id = $1', [id])
      return
    }
    // GoTrue's soft delete: the row stays (for foreign keys) but can never sign in again.
    await tx.query('delete from auth.sessions where user_id = $1', [id])
    await tx.query('delete from auth.identities where user_id = $1', [id])
    await tx.query(
      `update auth.users set deleted_at = now(), email = null, phone = null, encrypted_password = '',
              confirmation_token = '', recovery_token = '', email_change = '', email_change_token_new = '',
              raw_user_meta_data = '{}', raw_app_meta_data = '{}', updated_at = now()
       where id = $1`,
      [id],
    )
  })
  send(res, 200, {})
}

async function invite({ req, res, ctx, config }: Call): Promise<void> {
  await requireAdmin(req, ctx)
  const body = await readJson(req)
  const email = validateEmail(stringField(body, 'email'))
  const data = objectField(body, 'data') ?? {}
  const redirectTo = allowedRedirect(config, new URL(req.url ?? '/', ctx.url).searchParams.get('redirect_to'))
  const user = await ctx.db.asOwner(async (tx) => {
    let user = await findUserByEmail(tx, email)
    if (user && isConfirmed(user)) throw unprocessable('email_exists', DUPLICATE_EMAIL)
    user ??= await insertUser(tx, { email, userMetadata: data, invited: true })
    await tx.query('update auth.users set invited_at = coalesce(invited_at, now()) where id = $1', [user.id])
    const link = await createLink(ctx, tx, user, 'invite', redirectTo)
    logMail(ctx, email, link)
    return loadUserJson(tx, user.id)
  })
  send(res, 200, user)
}

async function generateLink({ req, res, ctx, config }: Call): Promise<void> {
  await requireAdmin(req, ctx)
  const body = await readJson(req)
  const type = stringField(body, 'type')
  const email = validateEmail(stringField(body, 'email'))
  const password = stringField(body, 'password')
  const data = objectField(body, 'data') ?? {}
  const askedRedirect =
    stringField(body, 'redirect_to') || new URL(req.url ?? '/', ctx.url).searchParams.get('redirect_to')
  const redirectTo = allowedRedirect(config, askedRedirect)
  const kinds = ['signup', 'invite', 'magiclink', 'recovery', 'email_change_new', 'email_change_current']
  if (!kinds.includes(type)) throw badRequest('validation_failed', 'Invalid email action link type requested')
  if (type === 'signup') {
    if (!password) throw badRequest('validation_failed', 'Signup requires a valid password')
    checkPasswordStrength(password, config)
  }
  const newEmail = type.startsWith('email_change') ? validateEmail(stringField(body, 'new_email')) : ''
  const result = await ctx.db.asOwner(async (tx) => {
    let user = await findUserByEmail(tx, email)
    if (type === 'signup' || type === 'invite') {
      if (user && isConfirmed(user)) throw unprocessable('email_exists', DUPLICATE_EMAIL)
      user ??= await insertUser(tx, {
        email,
        password: password || undefined,
        userMetadata: data,
        invited: type === 'invite',
      })
      if (type === 'invite')
        await tx.query('update auth.users set invited_at = coalesce(invited_at, now()) where id = $1', [user.id])
    } else if (!user) {
      if (type !== 'magiclink') throw notFound('user_not_found', 'User with this email not found')
      user = await insertUser(tx, { email, userMetadata: data })
    }
    if (newEmail) {
      const other = await findUserByEmail(tx, newEmail)
      if (other && other.id !== user.id) throw unprocessable('email_exists', DUPLICATE_EMAIL)
    }
    const linkType: LinkType = type.startsWith('email_change') ? 'email_change' : (type as LinkType)
    const link = await createLink(ctx, tx, user, linkType, redirectTo, newEmail ? { email: newEmail } : {})
    return { ...(await loadUserJson(tx, user.id)), ...link }
  })
  send(res, 200, result)
}

// Settings and health -------------------------------------------------------------------

async function settings({ res, config }: Call): Promise<void> {
  const external: Json = { email: true, phone: false, anonymous_users: config.anonymousSignIns }
  for (const provider of [
    'apple',
    'azure',
    'bitbucket',
    'discord',
    'facebook',
    'figma',
    'github',
    'gitlab',
    'google',
    'keycloak',
    'kakao',
    'linkedin_oidc',
    'notion',
    'slack_oidc',
    'spotify',
    'twitch',
    'twitter',
    'workos',
    'zoom',
  ]) {
    external[provider] = false
  }
  send(res, 200, {
    external,
    disable_signup: !config.signupEnabled,
    mailer_autoconfirm: config.mailerAutoconfirm,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  })
}

/** The public half of the session signing keys (what getClaims() and functions verify with). */
async function jwks({ res, ctx }: Call): Promise<void> {
  send(res, 200, ctx.keys.jwks, { 'cache-control': 'public, max-age=600' })
}

async function health({ res }: Call): Promise<void> {
  send(res, 200, {
    version: 'local',
    name: 'GoTrue',
    description: 'GoTrue is a user registration and authentication API',
  })
}

// Routing ---------------------------------------------------------------------------------

type Handler = (call: Call) => Promise<void>

const routes: Array<{ method: string; path: RegExp; handler: Handler; open?: boolean }> = [
  { method: 'POST', path: /^\/signup$/, handler: signup },
  { method: 'POST', path: /^\/token$/, handler: token },
  { method: 'GET', path: /^\/user$/, handler: getUser },
  { method: 'PUT', path: /^\/user$/, handler: updateUser },
  { method: 'POST', path: /^\/logout$/, handler: logout },
  { method: 'POST', path: /^\/recover$/, handler: recover },
  // The link in an email carries no API key: Supabase's gateway leaves /verify open.
  { method: 'GET', path: /^\/verify$/, handler: verifyGet, open: true },
  { method: 'POST', path: /^\/verify$/, handler: verifyPost },
  { method: 'POST', path: /^\/invite$/, handler: invite },
  { method: 'POST', path: /^\/admin\/generate_link$/, handler: generateLink },
  { method: 'POST', path: /^\/admin\/users$/, handler: adminCreateUser },
  { method: 'GET', path: /^\/admin\/users$/, handler: adminListUsers },
  { method: 'GET', path: /^\/admin\/users\/(?<id>[^/]+)$/, handler: adminGetUser },
  { method: 'PUT', path: /^\/admin\/users\/(?<id>[^/]+)$/, handler: adminUpdateUser },
  { method: 'DELETE', path: /^\/admin\/users\/(?<id>[^/]+)$/, handler: adminDeleteUser },
  { method: 'GET', path: /^\/settings$/, handler: settings },
  { method: 'GET', path: /^\/health$/, handler: health },
  { method: 'GET', path: /^\/\.well-known\/jwks\.json$/, handler: jwks, open: true },
]

export const handleAuth: RouteHandler = async (req, res, url, ctx) => {
  const path = url.pathname.replace(/^\/auth\/v1/, '').replace(/\/+$/, '') || '/'
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET')
  try {
    const matching = routes.filter((r) => r.path.test(path))
    const route = matching.find((r) => r.method === method)
    if (!route?.open) {
      const keyError = await checkApiKey(req, url, ctx)
      if (keyError) {
        // Kong's own answer, not GoTrue's.
        req.resume()
        return send(res, 401, { message: keyError.message })
      }
    }
    if (!route) {
      req.resume()
      if (matching.length > 0) throw new AuthError(405, 'method_not_allowed', 'Method not allowed')
      throw notFound('not_found', 'Not found')
    }
    const params = (route.path.exec(path)?.groups ?? {}) as Record<string, string>
    await route.handler({ req, res, url, ctx, config: loadAuthConfig(ctx.root), params })
  } catch (error) {
    if (error instanceof BodyTooLarge) {
      return sendError(req, res, new AuthError(413, 'request_too_large', 'Request body too large'))
    }
    if (error instanceof AuthError) return sendError(req, res, error)
    ctx.log(`auth: ${req.method} ${path} failed: ${(error as Error).stack ?? String(error)}`)
    sendError(
      req,
      res,
      new AuthError(500, 'unexpected_failure', 'Unexpected failure, please check server logs for more information'),
    )
  }
}
