// Finds the function an /rpc request calls, the way PostgREST 12 does: by schema,
// name and the set of argument names (required ones present, optional ones may be),
// falling back to a function with a single unnamed json/jsonb parameter that takes
// the whole body. On PGlite read from pg_catalog on every request. On a native server
// kept in a schema cache (RoutineCache) that any DDL invalidates, checked in the same
// round trip as each call, so a call is one round trip instead of two.
import type { Transaction } from './db.ts'
import { quoteLiteral } from './pool.ts'
import { restError, type RestError } from './rest-errors.ts'

export interface RoutineParam {
  name: string
  /** format_type() of the declared type, e.g. `uuid`, `text[]`, `app.mood`. */
  type: string
  required: boolean
  variadic: boolean
}

export interface Routine {
  schema: string
  name: string
  /** Input parameters (IN, INOUT, VARIADIC) in declaration order. */
  params: RoutineParam[]
  returnsSet: boolean
  returns: 'void' | 'scalar' | 'composite'
}

interface ProcRow {
  name: string
  returns_set: boolean
  returns_void: boolean
  returns_composite: boolean
  n_defaults: number
  arg_names: string[] | null
  arg_modes: string[] | null
  arg_types: string[]
}

// A TABLE/OUT/INOUT parameter makes the result a row even when only one column is
// declared (PostgREST's "composite alias").
const procQuery = `
  select p.proname as name,
         p.proretset as returns_set,
         p.prorettype = 'pg_catalog.void'::pg_catalog.regtype as returns_void,
         (t.typtype = 'c' or coalesce(p.proargmodes::text[] && array['o', 't', 'b'], false)) as returns_composite,
         p.pronargdefaults::int as n_defaults,
         p.proargnames::text[] as arg_names,
         p.proargmodes::text[] as arg_modes,
         array(select pg_catalog.format_type(a.oid, null)
                 from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality as a(oid, n)
                order by a.n) as arg_types
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    join pg_catalog.pg_type t on t.oid = p.prorettype
   where n.nspname = $1 and p.proname = $2 and p.prokind = 'f'`

export async function loadRoutines(tx: Transaction, schema: string, name: string): Promise<Routine[]> {
  // With literals, not parameters: as the transaction's first simple-protocol
  // statement it travels with `begin` on a native server (local/pool.ts).
  const [result] = await tx.exec(procQuery.replace('$1', quoteLiteral(schema)).replace('$2', quoteLiteral(name)))
  const rows = result!.rows as unknown as ProcRow[]
  return rows.map((row) => {
    const modes = row.arg_modes ?? row.arg_types.map(() => 'i')
    const inputs: RoutineParam[] = []
    row.arg_types.forEach((type, i) => {
      const mode = modes[i]
      if (mode === 'i' || mode === 'b' || mode === 'v') {
        inputs.push({ name: row.arg_names?.[i] ?? '', type, required: true, variadic: mode === 'v' })
      }
    })
    // The last pronargdefaults input parameters have defaults.
    for (let i = inputs.length - row.n_defaults; i < inputs.length; i++) if (i >= 0) inputs[i].required = false
    return {
      schema,
      name: row.name,
      params: inputs,
      returnsSet: row.returns_set,
      returns: row.returns_void ? 'void' : row.returns_composite ? 'composite' : 'scalar',
    }
  })
}

/**
 * Native server: the routines of each schema.name a request resolved, read at one
 * version of local.schema_version (local/native.sql), which every DDL statement moves.
 * A request that uses an entry makes its transaction check that version first
 * (`guard`); when it moved, the cache is emptied and the request made again.
 */
export class RoutineCache {
  private version: number | undefined
  private readonly entries = new Map<string, Routine[]>()

  /** The cached routines and the check that they are still current, or undefined. */
  get(schema: string, name: string): { routines: Routine[]; guard: string } | undefined {
    const routines = this.entries.get(`${schema}.${name}`)
    return routines && { routines, guard: `local.require_schema_version(${this.version})` }
  }

  /** Keeps routines read while the schema was at `version`; a new version empties the cache. */
  set(schema: string, name: string, version: number, routines: Routine[]): void {
    if (version !== this.version) {
      this.entries.clear()
      this.version = version
    }
    // Only names that exist: the catalog's functions bound the cache.
    if (routines.length > 0) this.entries.set(`${schema}.${name}`, routines)
  }

  clear(): void {
    this.entries.clear()
    this.version = undefined
  }
}

/** A schema version check failed (SQLSTATE KOSC1): the cache was stale. */
export const SCHEMA_CHANGED = 'KOSC1'

/** The current local.schema_version of a native server. */
export async function schemaVersion(db: { query: Transaction['query'] }): Promise<number> {
  const { rows } = await db.query<{ version: number }>('select version from local.schema_version')
  return Number(rows[0]!.version)
}

export async function routineNamesIn(tx: Transaction, schema: string): Promise<string[]> {
  const { rows } = await tx.query<{ name: string }>(
    `select distinct p.proname as name from pg_catalog.pg_proc p
       join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      where n.nspname = $1 and p.prokind = 'f' order by 1`,
    [schema],
  )
  return rows.map((r) => r.name)
}

export type CallStyle =
  /** Named arguments taken from the request's keys. */
  | { kind: 'named'; params: RoutineParam[] }
  /** The whole body as the one json/jsonb parameter (unnamed, or `Prefer: params=single-object`). */
  | { kind: 'whole-body'; param: RoutineParam }

export interface Resolution {
  routine: Routine
  call: CallStyle
}

export interface CallRequest {
  schema: string
  name: string
  keys: string[]
  /** POST with a JSON body: a single unnamed json/jsonb function may take it whole. */
  jsonPost: boolean
  singleObject: boolean
}

const isJsonType = (type: string) => type === 'json' || type === 'jsonb'

function matchesKeys(routine: Routine, keys: Set<string>): boolean {
  const required = routine.params.filter((p) => p.required).map((p) => p.name)
  const optional = new Set(routine.params.filter((p) => !p.required).map((p) => p.name))
  if (routine.params.length === 0) return keys.size === 0
  const rest = [...keys].filter((k) => !optional.has(k))
  return rest.length === required.length && required.every((name) => keys.has(name))
}

export function resolveRoutine(request: CallRequest, candidates: Routine[], allNames: string[]): Resolution {
  const keys = new Set(request.keys)
  if (request.singleObject) {
    const matched = candidates.filter((r) => r.params.length === 1 && isJsonType(r.params[0].type))
    if (matched.length === 1) return { routine: matched[0], call: { kind: 'whole-body', param: matched[0].params[0] } }
    if (matched.length > 1) throw ambiguous(matched)
    throw notFound(request, candidates, allNames)
  }
  const named = candidates.filter((r) => matchesKeys(r, keys))
  if (named.length === 1) {
    const routine = named[0]
    return { routine, call: { kind: 'named', params: routine.params.filter((p) => keys.has(p.name)) } }
  }
  if (named.length > 1) throw ambiguous(named)
  const wholeBody = request.jsonPost
    ? candidates.filter((r) => r.params.length === 1 && r.params[0].name === '' && isJsonType(r.params[0].type))
    : []
  if (wholeBody.length === 1)
    return { routine: wholeBody[0], call: { kind: 'whole-body', param: wholeBody[0].params[0] } }
  if (wholeBody.length > 1) throw ambiguous(wholeBody)
  throw notFound(request, candidates, allNames)
}

function ambiguous(routines: Routine[]): RestError {
  const signatures = routines.map(
    (r) => `${r.schema}.${r.name}(${r.params.map((p) => `${p.name} => ${p.type}`).join(', ')})`,
  )
  return restError(
    300,
    'PGRST203',
    `Could not choose the best candidate function between: ${signatures.join(', ')}`,
    null,
    'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  )
}

function notFound(request: CallRequest, overloads: Routine[], allNames: string[]): RestError {
  const keys = [...request.keys].sort()
  const func = `${request.schema}.${request.name}`
  const params = keys.length === 0 ? ' without parameters' : `(${keys.join(', ')})`
  const searched =
    keys.length === 0 ? ' without parameters' : ` with parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`
  const jsonNote = request.jsonPost ? ' or with a single unnamed json/jsonb parameter' : ''
  return restError(
    404,
    'PGRST202',
    `Could not find the function ${func}${params} in the schema cache`,
    `Searched for the function ${func}${searched}${jsonNote}, but no matches were found in the schema cache.`,
    noRpcHint(request, keys, overloads, allNames),
  )
}

// PostgREST suggests the closest overload's parameters, or the closest function name.
function noRpcHint(request: CallRequest, keys: string[], overloads: Routine[], allNames: string[]): string | null {
  const prefix = `Perhaps you meant to call the function ${request.schema}.`
  const listed = (names: string[]) => `(${[...names].sort().join(', ')})`
  if (overloads.length > 0) {
    const wanted = listed(keys)
    const best = bestMatch(
      wanted,
      overloads.map((r) => listed(r.params.map((p) => p.name))),
      0.33,
    )
    return best ? `${prefix}${request.name}${best}` : null
  }
  const best = bestMatch(
    request.name,
    allNames.filter((n) => n !== request.name),
    0.75,
  )
  return best ? `${prefix}${best}` : null
}

function bestMatch(wanted: string, options: string[], minScore: number): string | undefined {
  let best: string | undefined
  let bestScore = -1
  for (const option of options) {
    const score = 1 - levenshtein(wanted, option) / Math.max(wanted.length, option.length, 1)
    if (score >= minScore && score > bestScore) {
      best = option
      bestScore = score
    }
  }
  return best
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]
}
