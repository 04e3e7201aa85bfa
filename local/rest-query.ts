// The query string PostgREST reads on /rpc results: select, order, limit, offset,
// horizontal filters (`col=op.value`) and, on GET, the function's arguments.
// Only what postgrest-js emits for plain filters is supported; anything else is a
// clear 400 rather than a wrong answer.
import { restError } from './rest-errors.ts'

export interface SelectItem {
  column: string
  alias?: string
  cast?: string
}

export interface OrderTerm {
  column: string
  descending: boolean
  nulls?: 'first' | 'last'
}

export interface Filter {
  column: string
  negated: boolean
  operator: string
  /** Raw value after `op.`; for `in` the parsed list. */
  value: string | string[]
}

export interface ReadShape {
  /** Undefined means `*`. */
  select?: SelectItem[]
  order: OrderTerm[]
  filters: Filter[]
  limit?: number
  offset: number
}

export interface ParsedQuery {
  shape: ReadShape
  /** Non-filter parameters: the function's arguments on GET/HEAD. */
  args: Map<string, string[]>
}

const reservedEmbeddable = new Set(['order', 'limit', 'offset', 'and', 'or'])
const simpleOperators: Record<string, string> = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'like',
  ilike: 'ilike',
  match: '~',
  imatch: '~*',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  isdistinct: 'is distinct from',
}
const knownButUnsupported = new Set(['sl', 'sr', 'nxr', 'nxl', 'adj', 'fts', 'plfts', 'phfts', 'wfts'])

function notImplemented(what: string) {
  return restError(400, 'PGRST127', 'Feature not implemented', `The local stack does not support ${what}`)
}

function parseError(what: string, value: string, details: string) {
  return restError(400, 'PGRST100', `"failed to parse ${what} (${value})"`, details)
}

/** PostgREST's rule: a value starting with an operator makes the parameter a filter. */
function looksLikeFilter(value: string): boolean {
  const [first] = value.split('.')
  if (first === 'not' && value.split('.').length > 2) return true
  if (first === 'is' || first === 'in') return true
  return first in simpleOperators || knownButUnsupported.has(first) || /^(fts|plfts|phfts|wfts)\(/.test(value)
}

export function parseQuery(params: URLSearchParams): ParsedQuery {
  const shape: ReadShape = { order: [], filters: [], offset: 0 }
  const args = new Map<string, string[]>()
  let limit: number | undefined
  for (const [key, value] of params) {
    const last = key.split('.').at(-1) ?? key
    if (key === 'select') shape.select = parseSelect(value)
    else if (key === 'columns' || key === 'on_conflict') continue
    else if (reservedEmbeddable.has(last)) {
      if (key !== last) throw notImplemented(`"${key}" (embedded resources)`)
      if (key === 'order') shape.order.push(...parseOrder(value))
      else if (key === 'limit') limit = parseCount(value, limit)
      else if (key === 'offset') shape.offset = parseCount(value, shape.offset) ?? 0
      else throw notImplemented(`"${key}" (logical operators); use separate filters, which are and-ed`)
    } else if (key.includes('.') || looksLikeFilter(value)) shape.filters.push(parseFilter(key, value))
    else args.set(key, [...(args.get(key) ?? []), value])
  }
  if (limit !== undefined && limit < 0) {
    throw restError(
      416,
      'PGRST103',
      'Requested range not satisfiable',
      'Limit should be greater than or equal to zero.',
    )
  }
  shape.limit = limit
  return { shape, args }
}

function parseCount(value: string, previous: number | undefined): number | undefined {
  // PostgREST ignores a limit/offset that is not an integer.
  return /^-?\d+$/.test(value.trim()) ? Number(value) : previous
}

function unquote(name: string): string {
  const trimmed = name.trim()
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
    ? trimmed.slice(1, -1).replace(/\\"/g, '"')
    : trimmed
}

/** Splits on commas outside double quotes and parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let current = ''
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === '\\' && quoted && i + 1 < text.length) {
      current += ch + text[++i]
      continue
    }
    if (ch === '"') quoted = !quoted
    else if (!quoted && ch === '(') depth++
    else if (!quoted && ch === ')') depth--
    if (ch === ',' && !quoted && depth === 0) {
      parts.push(current)
      current = ''
    } else current += ch
  }
  parts.push(current)
  return parts
}

const castPattern = /^[a-z_][a-z0-9_ ]*(\[\])*$/i

function parseSelect(value: string): SelectItem[] | undefined {
  const items: SelectItem[] = []
  for (const raw of splitTopLevel(value)) {
    const text = raw.trim()
    if (text === '') throw parseError('select parameter', value, 'empty item in select')
    if (text.includes('(')) throw notImplemented(`"${text}" in select (resource embedding)`)
    if (text.includes('->')) throw notImplemented(`"${text}" in select (JSON paths)`)
    if (text.startsWith('...')) throw notImplemented(`"${text}" in select (spread)`)
    let rest = text
    let alias: string | undefined
    const aliasMatch = /^("(?:[^"\\]|\\.)*"|[^:"]+):(?!:)(.*)$/.exec(rest)
    if (aliasMatch) {
      alias = unquote(aliasMatch[1])
      rest = aliasMatch[2]
    }
    let cast: string | undefined
    const castAt = rest.lastIndexOf('::')
    if (castAt > 0 && !rest.slice(castAt).includes('"')) {
      cast = rest.slice(castAt + 2).trim()
      rest = rest.slice(0, castAt)
      if (!castPattern.test(cast)) throw parseError('select parameter', value, `invalid cast ${cast}`)
    }
    const column = unquote(rest)
    if (column === '*') {
      if (alias || cast) throw parseError('select parameter', value, 'cannot alias or cast *')
      items.push({ column })
    } else items.push({ column, alias, cast })
  }
  return items.length === 1 && items[0].column === '*' ? undefined : items
}

function parseOrder(value: string): OrderTerm[] {
  return splitTopLevel(value).map((raw) => {
    const text = raw.trim()
    if (text.includes('(') || text.includes('->')) throw notImplemented(`"${text}" in order`)
    const parts = text.split('.')
    const terms: OrderTerm = { column: '', descending: false }
    let i = parts.length
    // Modifiers come last: [.asc|.desc][.nullsfirst|.nullslast]
    while (i > 1 && ['asc', 'desc', 'nullsfirst', 'nullslast'].includes(parts[i - 1])) {
      const modifier = parts[--i]
      if (modifier === 'desc') terms.descending = true
      else if (modifier === 'nullsfirst') terms.nulls = 'first'
      else if (modifier === 'nullslast') terms.nulls = 'last'
    }
    terms.column = unquote(parts.slice(0, i).join('.'))
    if (terms.column === '') throw parseError('order', value, 'missing column')
    return terms
  })
}

function parseFilter(key: string, value: string): Filter {
  if (key.includes('.')) throw notImplemented(`the filter "${key}" (embedded resources)`)
  if (key.includes('->')) throw notImplemented(`the filter "${key}" (JSON paths)`)
  let rest = value
  let negated = false
  if (rest.startsWith('not.')) {
    negated = true
    rest = rest.slice(4)
  }
  const dot = rest.indexOf('.')
  const operator = dot < 0 ? rest : rest.slice(0, dot)
  const operand = dot < 0 ? '' : rest.slice(dot + 1)
  if (dot < 0 && !/^(fts|plfts|phfts|wfts)\(/.test(rest)) {
    throw parseError('filter', value, `unknown single value operator ${operator}`)
  }
  const column = unquote(key)
  if (operator === 'in') {
    if (!operand.startsWith('(') || !operand.endsWith(')')) throw parseError('filter', value, 'expecting "(" ... ")"')
    const inner = operand.slice(1, -1)
    const list = inner === '' ? [] : splitTopLevel(inner).map((v) => unquote(v))
    return { column, negated, operator, value: list }
  }
  if (operator === 'is') {
    const normalized = operand.toLowerCase()
    if (!['null', 'not_null', 'true', 'false', 'unknown'].includes(normalized)) {
      throw parseError('filter', value, 'expecting null, not_null, true, false or unknown')
    }
    return { column, negated, operator, value: normalized }
  }
  if (operator in simpleOperators) return { column, negated, operator, value: operand }
  if (knownButUnsupported.has(operator) || /^(fts|plfts|phfts|wfts)\(/.test(operator)) {
    throw notImplemented(`the "${operator}" filter operator`)
  }
  throw parseError('filter', value, `unknown single value operator ${operator}`)
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** SQL for the filters on `relation`; `bind` returns a placeholder for a value. */
export function whereSql(filters: Filter[], relation: string, bind: (value: string) => string): string {
  if (filters.length === 0) return ''
  const conditions = filters.map((f) => {
    const column = `${relation}.${quoteIdent(f.column)}`
    let sql: string
    if (f.operator === 'in') {
      const list = f.value as string[]
      sql = list.length === 0 ? 'false' : `${column} in (${list.map((v) => bind(v)).join(', ')})`
    } else if (f.operator === 'is') {
      sql = f.value === 'not_null' ? `${column} is not null` : `${column} is ${f.value as string}`
    } else if (f.operator === 'like' || f.operator === 'ilike') {
      sql = `${column} ${simpleOperators[f.operator]} ${bind((f.value as string).replace(/\*/g, '%'))}`
    } else {
      sql = `${column} ${simpleOperators[f.operator]} ${bind(f.value as string)}`
    }
    return f.negated ? `not (${sql})` : sql
  })
  return ` where ${conditions.join(' and ')}`
}

export function orderSql(order: OrderTerm[], relation: string): string {
  if (order.length === 0) return ''
  const terms = order.map(
    (o) => `${relation}.${quoteIdent(o.column)} ${o.descending ? 'desc' : 'asc'}${o.nulls ? ` nulls ${o.nulls}` : ''}`,
  )
  return ` order by ${terms.join(', ')}`
}

export function selectSql(select: SelectItem[] | undefined, relation: string): string {
  if (!select) return `${relation}.*`
  return select
    .map((item) => {
      if (item.column === '*') return `${relation}.*`
      const expr = `${relation}.${quoteIdent(item.column)}${item.cast ? `::${item.cast}` : ''}`
      return `${expr} as ${quoteIdent(item.alias ?? item.column)}`
    })
    .join(', ')
}
