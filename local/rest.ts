// /rest/v1: a stand-in for PostgREST 12 behind Supabase's gateway, serving only
// what this project exposes: functions of the API schemas at /rpc/<fn> (POST with
// named arguments in a JSON object, GET/HEAD with them in the query string). Role
// and claims come from the bearer JWT, the schema from Accept-Profile /
// Content-Profile, and results and errors have PostgREST's shapes and statuses.
// Tables are never exposed (DESIGN.md, "Database rules").
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Claims, LocalDb, Transaction } from './db.ts'
import { BodyTooLarge, MAX_BODY_BYTES, readBody, type RouteHandler, type StackContext } from './http.ts'
import { apiKeyRole, claimsForKey, verifyJwt } from './keys.ts'
import { readProjectConfig, section } from './project-config.ts'
import { RestError, fromPgError, isPgError, restError } from './rest-errors.ts'
import { orderSql, parseQuery, quoteIdent, selectSql, whereSql, type ReadShape } from './rest-query.ts'
import { quoteLiteral } from './pool.ts'
import {
  loadRoutines,
  resolveRoutine,
  RoutineCache,
  routineNamesIn,
  SCHEMA_CHANGED,
  schemaVersion,
  type Resolution,
} from './rest-routines.ts'

const requestRoles = new Set(['anon', 'authenticated', 'service_role'])

export const handleRest: RouteHandler = async (req, res, url, ctx) => {
  try {
    await serveRest(req, res, url, ctx)
  } catch (error) {
    if (error instanceof BodyTooLarge) {
      // Refused by the gateway in front of PostgREST, which has no code of its own for it.
      sendError(
        res,
        restError(413, '', 'Request size limit exceeded', `The request body exceeds ${MAX_BODY_BYTES} bytes.`),
      )
    } else if (error instanceof RestError) sendError(res, error)
    else throw error
  }
}

async function serveRest(req: IncomingMessage, res: ServerResponse, url: URL, ctx: StackContext): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase()
  const path = url.pathname.replace(/^\/rest\/v1/, '') || '/'
  const claims = await authenticate(req, url, ctx)
  const config = apiConfig(ctx.root)
  const schema = negotiateSchema(req, method, config.schemas)

  if (path === '/') {
    if (method !== 'GET' && method !== 'HEAD') throw restError(405, 'PGRST117', `Unsupported HTTP method: ${method}`)
    const names = await ctx.db.asRequest(claims, (tx) => routineNamesIn(tx, schema))
    send(res, 200, method === 'HEAD' ? undefined : openApiSketch(schema, names), {
      'content-type': 'application/openapi+json; charset=utf-8',
    })
    return
  }
  const rpc = /^\/rpc\/([^/]+)$/.exec(path)
  if (!rpc) {
    if (path.startsWith('/rpc')) throw restError(404, 'PGRST125', 'Invalid path specified in request URL')
    const table = decodeURIComponent(path.slice(1).split('/')[0])
    throw restError(
      404,
      'PGRST205',
      `Could not find the table '${schema}.${table}' in the schema cache`,
      `Tables are not exposed by this project's Data API: only functions of the ${schema} schema are, at /rest/v1/rpc/<function>.`,
      'Call a function with supabase.rpc(...) instead of supabase.from(...).',
    )
  }
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
    throw restError(405, 'PGRST101', `Cannot use the ${method} method on RPC`)
  }
  await invoke(req, res, url, ctx, {
    claims,
    method,
    schema,
    name: decodeURIComponent(rpc[1]),
    searchPath: [schema, ...config.extraSearchPath],
    maxRows: config.maxRows,
    path,
  })
}

// ---------------------------------------------------------------------------
// Authentication: the gateway's apikey check, then PostgREST's JWT rules.

function jwtError(status: number, code: string, message: string): RestError {
  return restError(status, code, message, null, null, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${message}"`,
  })
}

async function authenticate(req: IncomingMessage, url: URL, ctx: StackContext): Promise<Claims> {
  // Supabase's gateway wants one of the project's API keys in `apikey`
  // (header or query parameter) before the request reaches PostgREST.
  const headerKey = req.headers.apikey
  const apikey = (typeof headerKey === 'string' ? headerKey : undefined) ?? url.searchParams.get('apikey') ?? undefined
  url.searchParams.delete('apikey')
  if (!apikey) {
    throw restError(
      401,
      'PGRST301',
      'No API key found in request',
      null,
      'No `apikey` request header or url param was found.',
    )
  }
  if (!apiKeyRole(ctx.keys, apikey)) {
    throw restError(
      401,
      'PGRST301',
      'Invalid API key',
      null,
      'Double check your Supabase publishable or secret API key.',
    )
  }
  // PostgREST reads only a Bearer Authorization; without one the apikey is the JWT.
  const authorization = req.headers.authorization
  const bearer = authorization && /^bearer(\s|$)/i.test(authorization) ? authorization.slice(6).trim() : undefined
  if (bearer === '') throw jwtError(401, 'PGRST301', 'Empty JWT is sent in Authorization header')
  const token = bearer ?? apikey
  // An opaque key (sb_…) as the bearer stands for its own role, as the gateway maps it.
  const keyClaims = claimsForKey(ctx.keys, token)
  if (keyClaims) return keyClaims
  const parts = token.split('.').length
  if (parts !== 3) throw jwtError(401, 'PGRST301', `Expected 3 parts in JWT; got ${parts}`)
  const check = await verifyJwt(ctx.keys, token)
  if (!check.ok) {
    throw check.reason === 'expired'
      ? jwtError(401, 'PGRST303', 'JWT expired')
      : jwtError(401, 'PGRST301', 'JWSError JWSInvalidSignature')
  }
  const role = check.claims.role
  if (!requestRoles.has(role)) {
    // PostgREST would `set local role` and fail: 22023 (no such role, 401) or
    // 42501 (the authenticator may not become it, 403).
    const { rows } = await ctx.db.pg.query('select 1 from pg_catalog.pg_roles where rolname = $1', [role])
    throw rows.length === 0
      ? restError(401, '22023', `role "${role}" does not exist`, null, null, { 'www-authenticate': 'Bearer' })
      : restError(403, '42501', `permission denied to set role "${role}"`)
  }
  return check.claims
}

// ---------------------------------------------------------------------------
// supabase/config.toml: [api] schemas, extra_search_path, max_rows.

interface ApiConfig {
  schemas: string[]
  extraSearchPath: string[]
  maxRows?: number
}

/** The [api] table, with the Supabase CLI's defaults for what it leaves out. */
export function apiConfig(root: string): ApiConfig {
  const api = section(readProjectConfig(root), 'api')
  const strings = (value: unknown, fallback: string[]) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : fallback
  return {
    schemas: strings(api['schemas'], ['public', 'graphql_public']),
    extraSearchPath: strings(api['extra_search_path'], ['public', 'extensions']),
    maxRows: typeof api['max_rows'] === 'number' ? api['max_rows'] : 1000,
  }
}

function negotiateSchema(req: IncomingMessage, method: string, schemas: string[]): string {
  const header = method === 'GET' || method === 'HEAD' ? 'accept-profile' : 'content-profile'
  const requested = req.headers[header]
  const schema = typeof requested === 'string' && requested.trim() !== '' ? requested.trim() : schemas[0]
  if (!schema || !schemas.includes(schema)) {
    throw restError(406, 'PGRST106', `The schema must be one of the following: ${schemas.join(', ')}`)
  }
  return schema
}

// ---------------------------------------------------------------------------
// Request headers: Accept, Prefer, Content-Type.

interface Negotiated {
  singular: boolean
  stripNulls: boolean
}

function negotiateAccept(req: IncomingMessage): Negotiated {
  const accept = req.headers.accept
  if (!accept) return { singular: false, stripNulls: false }
  const offered = accept.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim())
    return { type: type.toLowerCase(), params: params.map((p) => p.toLowerCase()) }
  })
  for (const { type, params } of offered) {
    const stripNulls = params.includes('nulls=stripped')
    if (type === 'application/vnd.pgrst.object+json' || type === 'application/vnd.pgrst.object') {
      return { singular: true, stripNulls }
    }
    if (['application/json', 'application/vnd.pgrst.array+json', '*/*', 'application/*'].includes(type)) {
      return { singular: false, stripNulls: stripNulls && type === 'application/vnd.pgrst.array+json' }
    }
  }
  throw restError(406, 'PGRST107', `None of these media types are available: ${offered.map((o) => o.type).join(', ')}`)
}

interface Preferences {
  count: boolean
  singleObject: boolean
  minimal: boolean
  applied: string[]
}

function parsePrefer(req: IncomingMessage): Preferences {
  const raw = req.headers.prefer
  const values = (Array.isArray(raw) ? raw : raw ? [raw] : [])
    .flatMap((h) => h.split(','))
    .map((v) => v.trim())
    .filter(Boolean)
  const known =
    /^(count=(exact|planned|estimated)|params=single-object|return=(minimal|representation|headers-only)|resolution=(merge|ignore)-duplicates|missing=(default|null)|handling=(strict|lenient)|tx=(commit|rollback)|timezone=.+|max-affected=\d+)$/
  const invalid = values.filter((v) => !known.test(v))
  if (values.includes('handling=strict') && invalid.length > 0) {
    throw restError(
      400,
      'PGRST122',
      'Invalid preferences given with handling=strict',
      `Invalid preferences: ${invalid.join(', ')}`,
    )
  }
  // planned/estimated counts are exact here: there is no planner estimate worth using.
  const count = values.find((v) => v.startsWith('count='))
  const prefs: Preferences = {
    count: count !== undefined,
    singleObject: values.includes('params=single-object'),
    minimal: values.find((v) => v.startsWith('return=')) === 'return=minimal',
    applied: [],
  }
  if (prefs.minimal) prefs.applied.push('return=minimal')
  if (prefs.singleObject) prefs.applied.push('params=single-object')
  if (count) prefs.applied.push(count)
  return prefs
}

type Payload =
  { kind: 'none' } | { kind: 'json'; text: string; value: unknown } | { kind: 'form'; value: Record<string, string> }

async function readPayload(req: IncomingMessage): Promise<Payload> {
  const body = await readBody(req)
  const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase()
  const text = body.toString('utf8')
  if (contentType === 'application/x-www-form-urlencoded') {
    return { kind: 'form', value: Object.fromEntries(new URLSearchParams(text)) }
  }
  if (contentType !== 'application/json' && contentType !== '*/*' && contentType !== '') {
    throw restError(400, 'PGRST102', `Content-Type not acceptable: ${contentType}`)
  }
  if (text.trim() === '') return { kind: 'none' }
  try {
    return { kind: 'json', text, value: JSON.parse(text) }
  } catch (error) {
    throw restError(400, 'PGRST102', `Error in $: ${(error as Error).message}`)
  }
}

// ---------------------------------------------------------------------------
// The call.

const routineCaches = new WeakMap<LocalDb, RoutineCache>()

/** Cached routines did not fit a call before anything was sent: it is made again with a fresh lookup. */
class StaleRoutines extends Error {}

function routineCacheOf(db: LocalDb): RoutineCache {
  let cache = routineCaches.get(db)
  if (!cache) routineCaches.set(db, (cache = new RoutineCache()))
  return cache
}

interface Invocation {
  claims: Claims
  method: string
  schema: string
  name: string
  searchPath: string[]
  maxRows?: number
  path: string
}

interface CallResult {
  returnsVoid: boolean
  body: string
  pageTotal: number
  total?: number
  status?: number
  headers: Record<string, string>
}

async function invoke(req: IncomingMessage, res: ServerResponse, url: URL, ctx: StackContext, call: Invocation) {
  const isPost = call.method === 'POST'
  const negotiated = negotiateAccept(req)
  const prefs = parsePrefer(req)
  const { shape, args: queryArgs } = parseQuery(url.searchParams)
  const payload: Payload = isPost ? await readPayload(req) : { kind: 'none' }

  let bodyArgs: Record<string, unknown> | undefined
  if (payload.kind === 'form') bodyArgs = payload.value
  else if (payload.kind === 'json') {
    const v = payload.value
    bodyArgs = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } else if (isPost) bodyArgs = {}
  const keys = isPost ? Object.keys(bodyArgs ?? {}) : [...queryArgs.keys()]
  const authed = call.claims.role !== 'anon'

  // Native server: the function from the schema cache, its freshness checked with begin
  // (then the call and the commit make the only round trip); on a miss, looked up first.
  const cache = ctx.db.native ? routineCacheOf(ctx.db) : undefined
  const attempt = async (cached: ReturnType<RoutineCache['get']>) => {
    const version = cache && !cached ? await schemaVersion(ctx.db.pg) : undefined
    return ctx.db.asRequest(
      call.claims,
      async (tx) => {
        let candidates = cached?.routines
        if (!candidates) {
          candidates = await loadRoutines(tx, call.schema, call.name)
          if (version !== undefined) cache!.set(call.schema, call.name, version, candidates)
        }
        const request = {
          schema: call.schema,
          name: call.name,
          keys,
          jsonPost: isPost && payload.kind !== 'form',
          singleObject: isPost && prefs.singleObject,
        }
        let resolution: Resolution
        try {
          resolution = resolveRoutine(
            request,
            candidates,
            candidates.length > 0 ? [] : await routineNamesIn(tx, call.schema),
          )
        } catch (error) {
          // Cached routines that do not fit the call may be stale: decide on a fresh lookup.
          if (cached) throw new StaleRoutines()
          throw error
        }
        if (resolution.call.kind === 'named' && isPost && bodyArgs === undefined) {
          throw restError(
            400,
            'PGRST102',
            'The local stack takes the arguments of a function as one JSON object',
            'Only a function with a single unnamed json/jsonb parameter accepts another JSON body.',
          )
        }
        return runCall(tx, resolution, {
          shape,
          singular: negotiated.singular,
          stripNulls: negotiated.stripNulls,
          count: prefs.count,
          maxRows: call.maxRows,
          payload,
          bodyArgs,
          queryArgs,
        })
      },
      {
        headers: requestHeaders(req),
        method: call.method,
        path: call.path,
        settings: {
          search_path: call.searchPath.map(quoteIdent).join(', '),
          // PostgREST runs GET and HEAD in a read-only transaction.
          ...(isPost ? {} : { transaction_read_only: 'on' }),
        },
        // The looked-up routines hold only at the version they were read at.
        guard: cached?.guard ?? (version !== undefined ? `local.require_schema_version(${version})` : undefined),
      },
    )
  }
  const result = await attempt(cache?.get(call.schema, call.name))
    .catch((error: unknown) => {
      // The schema changed since the lookup (nothing of the call ran): look up again.
      if (cache && (error instanceof StaleRoutines || (isPgError(error) && error.code === SCHEMA_CHANGED))) {
        cache.clear()
        return attempt(undefined)
      }
      throw error
    })
    .catch((error: unknown) => {
      throw isPgError(error) ? fromPgError(error, authed) : error
    })

  const headers: Record<string, string> = {}
  const lower = shape.offset
  const upper = lower + result.pageTotal - 1
  const range = result.pageTotal > 0 && result.total !== 0 ? `${lower}-${upper}` : '*'
  headers['content-range'] = `${range}/${result.total ?? '*'}`
  if (prefs.applied.length > 0) headers['preference-applied'] = prefs.applied.join(', ')
  let status = 200
  if (result.total !== undefined) {
    if (lower > result.total) {
      throw restError(
        416,
        'PGRST103',
        'Requested range not satisfiable',
        `An offset of ${lower} was requested, but there are only ${result.total} rows.`,
      )
    }
    if (result.pageTotal < result.total) status = 206
  }
  Object.assign(headers, result.headers)
  if (result.returnsVoid) {
    send(res, result.status ?? 204, undefined, headers)
    return
  }
  headers['content-type'] = negotiated.singular
    ? 'application/vnd.pgrst.object+json; charset=utf-8'
    : 'application/json; charset=utf-8'
  const omitBody = call.method === 'HEAD' || prefs.minimal
  send(res, result.status ?? status, omitBody ? undefined : result.body, headers)
}

interface CallOptions {
  shape: ReadShape
  singular: boolean
  stripNulls: boolean
  count: boolean
  maxRows?: number
  payload: Payload
  bodyArgs?: Record<string, unknown>
  queryArgs: Map<string, string[]>
}

async function runCall(tx: Transaction, { routine, call }: Resolution, options: CallOptions): Promise<CallResult> {
  // The statement, with `bind` putting each value in: as a parameter, or as a literal.
  const build = (bind: (value: string) => string): string => {
    const fn = `${quoteIdent(routine.schema)}.${quoteIdent(routine.name)}`

    // Arguments. JSON bodies go through json_to_record, so Postgres converts each
    // value to the declared type (arrays to arrays, objects to json/jsonb ...), as
    // PostgREST does; query-string values are text cast to the declared type.
    let argsFrom = ''
    let argList: string[] = []
    if (call.kind === 'whole-body') {
      const text = options.payload.kind === 'json' ? options.payload.text : JSON.stringify(options.bodyArgs ?? {})
      const arg = `${bind(text)}::${call.param.type}`
      argList = [call.param.name === '' ? arg : `${quoteIdent(call.param.name)} := ${arg}`]
    } else if (call.params.length > 0 && options.bodyArgs) {
      argsFrom = `json_to_record(${bind(JSON.stringify(options.bodyArgs))}::json) as pgrst_body(${call.params
        .map((p) => `${quoteIdent(p.name)} ${p.type}`)
        .join(', ')})`
      argList = call.params.map(
        (p) => `${p.variadic ? 'variadic ' : ''}${quoteIdent(p.name)} := pgrst_body.${quoteIdent(p.name)}`,
      )
    } else {
      argList = call.params.map((p) => {
        const given = options.queryArgs.get(p.name) ?? []
        const text = given.length === 1 && !p.variadic ? given[0] : arrayLiteral(given)
        return `${p.variadic ? 'variadic ' : ''}${quoteIdent(p.name)} := ${bind(text)}::${p.type}`
      })
    }
    const callSql = `${fn}(${argList.join(', ')})`
    const scalar = routine.returns !== 'composite'
    const source = scalar
      ? `select ${callSql} as pgrst_scalar${argsFrom ? ` from ${argsFrom}` : ''}`
      : `select pgrst_call.* from ${argsFrom ? `${argsFrom}, lateral ` : ''}${callSql} pgrst_call`

    // Shaping the result: a scalar's only column answers to the function's name.
    const { shape } = options
    const column = (name: string) => (scalar && name === routine.name ? 'pgrst_scalar' : name)
    if (scalar && shape.select?.some((s) => s.column !== '*' && s.column !== routine.name)) {
      throw restError(
        400,
        'PGRST127',
        'Feature not implemented',
        `The local stack cannot select columns of ${routine.schema}.${routine.name}, which returns a scalar`,
      )
    }
    const filters = shape.filters.map((f) => ({ ...f, column: column(f.column) }))
    const order = shape.order.map((o) => ({ ...o, column: column(o.column) }))
    const where = whereSql(filters, 'pgrst_call', bind)
    const limit = routine.returnsSet ? minDefined(shape.limit, options.maxRows) : shape.limit
    const page = `${orderSql(order, 'pgrst_call')}${limit !== undefined ? ` limit ${limit}` : ''}${shape.offset ? ` offset ${shape.offset}` : ''}`
    const selected = scalar ? 'pgrst_call.pgrst_scalar' : selectSql(shape.select, 'pgrst_call')

    const item = scalar ? 'pgrst_t.pgrst_scalar' : 'pgrst_t'
    const strip = (json: string) => (options.stripNulls ? `json_strip_nulls(${json})` : json)
    const asObject = options.singular || !routine.returnsSet
    const body = asObject
      ? `coalesce((${strip(`json_agg(${item}) -> 0`)})::text, 'null')`
      : `coalesce(${strip(`json_agg(${item})`)}, '[]')::text`
    const total = options.count ? `(select count(*) from pgrst_source pgrst_call${where})` : 'null::bigint'

    // The response GUCs are read in the same statement, after the call (as PostgREST
    // does): they are evaluated once the aggregate over the call's rows is done.
    const sql = `with pgrst_source as (${source})
      select ${total} as total, count(*)::int as page_total, ${body} as body,
             nullif(current_setting('response.status', true), '') as status,
             nullif(current_setting('response.headers', true), '') as headers
        from (select ${selected} from pgrst_source pgrst_call${where}${page}) pgrst_t`
    return sql
  }
  const values: string[] = []
  const sql = build((value) => {
    values.push(value)
    return `$${values.length}`
  })
  type CallRow = {
    total: string | number | null
    page_total: number
    body: string
    status: string | null
    headers: string | null
  }
  let rows: CallRow[]
  if (tx.execAndCommit && !options.singular && !values.some((v) => v.includes('\0'))) {
    // Nothing after the call can roll it back (no singular check): on a native server
    // the statement and the commit go in one round trip, with the values as literals.
    const [result] = await tx.execAndCommit(build(quoteLiteral))
    rows = result!.rows as unknown as CallRow[]
  } else {
    rows = (await tx.query<CallRow>(sql, values)).rows
  }
  const row = rows[0]!
  const { status, headers } = responseGucs(row)
  if (options.singular && row.page_total !== 1) {
    // Thrown inside the transaction, so whatever the function did is rolled back.
    throw restError(
      406,
      'PGRST116',
      'JSON object requested, multiple (or no) rows returned',
      `The result contains ${row.page_total} rows`,
    )
  }
  return {
    returnsVoid: routine.returns === 'void',
    body: row.body,
    pageTotal: row.page_total,
    total: row.total === null ? undefined : Number(row.total),
    status,
    headers,
  }
}

/** `response.status` and `response.headers`, which a function may set with set_config. */
function responseGucs(row: { status: string | null; headers: string | null }): {
  status?: number
  headers: Record<string, string>
} {
  let status: number | undefined
  if (row.status !== null) {
    status = Number(row.status)
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw restError(500, 'PGRST112', 'response.status guc must be a valid status code')
    }
  }
  const headers: Record<string, string> = {}
  if (row.headers !== null) {
    const invalid = restError(
      500,
      'PGRST111',
      'response.headers guc must be a JSON array composed of objects with a single key and a string value',
    )
    let parsed: unknown
    try {
      parsed = JSON.parse(row.headers)
    } catch {
      throw invalid
    }
    if (!Array.isArray(parsed)) throw invalid
    for (const entry of parsed) {
      const pairs = entry && typeof entry === 'object' ? Object.entries(entry as object) : []
      if (pairs.length !== 1 || typeof pairs[0][1] !== 'string') throw invalid
      headers[pairs[0][0].toLowerCase()] = pairs[0][1]
    }
  }
  return { status, headers }
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Math.min(a, b)
}

/** A Postgres array literal of text elements, for repeated query-string arguments. */
function arrayLiteral(items: string[]): string {
  return `{${items.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`
}

function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return headers
}

// ---------------------------------------------------------------------------
// Responses.

function send(res: ServerResponse, status: number, body: string | undefined, headers: Record<string, string>) {
  res.writeHead(status, headers)
  res.end(body)
}

function sendError(res: ServerResponse, error: RestError) {
  if (res.headersSent) {
    res.end()
    return
  }
  send(res, error.status, JSON.stringify(error.body), {
    'content-type': 'application/json; charset=utf-8',
    'proxy-status': `PostgREST; error=${error.body.code}`,
    ...error.headers,
  })
}

/** The root answers a small OpenAPI description listing the callable functions. */
function openApiSketch(schema: string, names: string[]): string {
  const paths: Record<string, unknown> = {}
  for (const name of names) paths[`/rpc/${name}`] = { get: {}, post: {} }
  return JSON.stringify({
    swagger: '2.0',
    info: { title: `Konstruct local stack: functions of the ${schema} schema`, version: '12 (PostgREST stand-in)' },
    basePath: '/',
    paths,
  })
}
