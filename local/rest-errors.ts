// PostgREST's error responses: the `{code, message, details, hint}` body and the
// HTTP status PostgREST 12 gives each Postgres SQLSTATE (its Error.hs mapSQLtoHTTP).

/** An error answered to the client as PostgREST would; thrown to roll back. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly body: { code: string; message: string; details: string | null; hint: string | null },
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message)
  }
}

export function restError(
  status: number,
  code: string,
  message: string,
  details: string | null = null,
  hint: string | null = null,
  headers: Record<string, string> = {},
): RestError {
  return new RestError(status, { code, message, details, hint }, headers)
}

/** The shape of an error PGlite raises for a failed statement. */
interface PgError {
  code: string
  message: string
  detail?: string
  hint?: string
}

export function isPgError(error: unknown): error is PgError {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
}

/** Status for a SQLSTATE; `authed` is true when the request's role is not anon. */
export function statusForSqlState(code: string, message: string, authed: boolean): number {
  if (code === '23503' || code === '23505') return 409
  if (code === '25006') return 405
  if (code === '21000') return message.endsWith('requires a WHERE clause') ? 400 : 500
  if (code === '22023') return message.startsWith('role') && message.endsWith('does not exist') ? 401 : 400
  if (code === '42883') return message.startsWith('function xmlagg(') ? 406 : 404
  if (code === '42P01') return 404
  if (code === '42P17') return 500
  if (code === '42501') return authed ? 403 : 401
  if (code === 'P0001') return 400
  if (code === '53400') return 500
  if (code === '57P01') return 503
  if (code.startsWith('PT')) {
    const status = Number(code.slice(2))
    return Number.isInteger(status) && status >= 100 && status <= 599 ? status : 500
  }
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 500,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  }
  return byClass[code.slice(0, 2)] ?? 400
}

/** Turns a database error into PostgREST's response, including `RAISE SQLSTATE 'PGRST'`. */
export function fromPgError(error: PgError, authed: boolean): RestError {
  if (error.code === 'PGRST') return fromRaisePgrst(error)
  const status = statusForSqlState(error.code, error.message, authed)
  return new RestError(
    status,
    { code: error.code, message: error.message, details: error.detail ?? null, hint: error.hint ?? null },
    status === 401 ? { 'www-authenticate': 'Bearer' } : {},
  )
}

// RAISE SQLSTATE 'PGRST' USING MESSAGE = '{"code":..,"message":..}', DETAIL = '{"status":..,"headers":{..}}'
function fromRaisePgrst(error: PgError): RestError {
  const msg = parseJsonObject(error.message)
  if (!msg || typeof msg.code !== 'string' || typeof msg.message !== 'string') {
    return restError(
      500,
      'PGRST121',
      `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
      `Invalid JSON value for MESSAGE: '${error.message}'`,
      "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.",
    )
  }
  const detail = error.detail === undefined ? undefined : parseJsonObject(error.detail)
  if (!detail || typeof detail.status !== 'number' || typeof detail.headers !== 'object' || detail.headers === null) {
    return restError(
      500,
      'PGRST121',
      `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
      error.detail === undefined
        ? 'DETAIL is missing in the RAISE statement'
        : `Invalid JSON value for DETAIL: '${error.detail}'`,
      "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.",
    )
  }
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(detail.headers as Record<string, unknown>)) headers[k.toLowerCase()] = String(v)
  return new RestError(
    detail.status,
    {
      code: msg.code,
      message: msg.message,
      details: typeof msg.details === 'string' ? msg.details : null,
      hint: typeof msg.hint === 'string' ? msg.hint : null,
    },
    headers,
  )
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
