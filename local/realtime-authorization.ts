// Who may join and use a Realtime channel, decided the way Supabase Realtime does:
// the channel's JWT must verify and carry `role` and `exp`; a private channel is
// authorized by RLS on realtime.messages, evaluated as the joining user with
// `realtime.topic()` set to the channel's topic, inside a transaction that is
// always rolled back.
import { decodeJwt } from 'jose'
import type { Claims, LocalDb, Transaction } from './db.ts'
import { claimsForKey, verifyJwt, type StackKeys } from './keys.ts'

export type TokenCheck =
  | { ok: true; claims: Claims; exp: number }
  | { ok: false; code: 'MalformedJWT' | 'InvalidJWTToken' | 'JwtSignatureError'; message: string }

/** Verifies a channel token; failures carry Supabase's error code and message. */
export async function checkChannelToken(keys: StackKeys, token: string): Promise<TokenCheck> {
  // An API key in place of a JWT (supabase-js without a session) is that key's role.
  const keyClaims = claimsForKey(keys, token.trim())
  if (keyClaims) return { ok: true, claims: keyClaims, exp: keyClaims.exp as number }
  let unverified: Record<string, unknown>
  try {
    unverified = decodeJwt(token.replace(/\s/g, ''))
  } catch {
    return { ok: false, code: 'MalformedJWT', message: 'The token provided is not a valid JWT' }
  }
  const checked = await verifyJwt(keys, token.replace(/\s/g, ''))
  if (checked.ok) {
    const exp = checked.claims.exp
    if (typeof exp !== 'number') return missingClaims()
    return { ok: true, claims: checked.claims, exp }
  }
  if (checked.reason === 'expired') {
    const ago = Math.floor(Date.now() / 1000) - Number(unverified.exp)
    return { ok: false, code: 'InvalidJWTToken', message: `Token has expired ${ago} seconds ago` }
  }
  // keys.ts refuses a token without a role before telling us whether it is signed.
  if (typeof unverified.role !== 'string' || typeof unverified.exp !== 'number') return missingClaims()
  return { ok: false, code: 'JwtSignatureError', message: 'Failed to validate JWT signature' }
}

function missingClaims(): TokenCheck {
  return { ok: false, code: 'InvalidJWTToken', message: 'Fields `role` and `exp` are required in JWT' }
}

export interface ReadPolicies {
  broadcast: boolean
  presence: boolean
}

export interface WritePolicies {
  broadcast: boolean
  presence: boolean
}

/** Roles a request may take on, as in local/db.ts. */
const requestRoles = new Set(['anon', 'authenticated', 'service_role'])

class RolledBack<T> extends Error {
  constructor(readonly value: T) {
    super('rolled back on purpose')
  }
}

/** Runs `work` in a transaction that is always rolled back (so onCommit never fires). */
async function inRolledBackTransaction<T>(db: LocalDb, work: (tx: Transaction) => Promise<T>): Promise<T> {
  try {
    await db.pg.transaction(async (tx) => {
      throw new RolledBack(await work(tx))
    })
  } catch (error) {
    if (error instanceof RolledBack) return error.value as T
    throw error
  }
  throw new Error('unreachable: the transaction was not rolled back')
}

/** Like Supabase's set_conn_config: the role, the topic and the claims, local to the transaction. */
async function setAuthorizationContext(tx: Transaction, claims: Claims, topic: string): Promise<void> {
  await tx.query(
    `select set_config('role', $1, true),
            set_config('realtime.topic', $2, true),
            set_config('request.jwt.claims', $3, true),
            set_config('request.headers', '{}', true),
            set_config('request.jwt.claim.sub', $4, true),
            set_config('request.jwt.claim.role', $1, true)`,
    [claims.role, topic, JSON.stringify(claims), typeof claims.sub === 'string' ? claims.sub : ''],
  )
}

/**
 * Read permission: probe rows for the topic are inserted as the owner, then selected
 * as the user; a probe the user can see means RLS lets them read that extension.
 * `onDecided` is called with the answer inside the probe's transaction, that is
 * before any later transaction commits (the database runs one at a time).
 */
export async function authorizeRead(
  db: LocalDb,
  claims: Claims,
  topic: string,
  options: { presence: boolean; onDecided?: (policies: ReadPolicies) => void },
): Promise<ReadPolicies> {
  if (!requestRoles.has(claims.role)) return { broadcast: false, presence: false }
  return inRolledBackTransaction(db, async (tx) => {
    const extensions = options.presence ? ['broadcast', 'presence'] : ['broadcast']
    const { rows: probes } = await tx.query<{ id: string; extension: string }>(
      `insert into realtime.messages (topic, extension)
       select $1, unnest($2::text[])
       returning id::text, extension`,
      [topic, extensions],
    )
    await setAuthorizationContext(tx, claims, topic)
    const { rows: visible } = await tx.query<{ id: string }>(
      'select id::text from realtime.messages where topic = $1 and id = any($2::uuid[])',
      [topic, probes.map((p) => p.id)],
    )
    const seen = new Set(visible.map((r) => r.id))
    const can = (extension: string) => probes.some((p) => p.extension === extension && seen.has(p.id))
    const policies = { broadcast: can('broadcast'), presence: can('presence') }
    options.onDecided?.(policies)
    return policies
  })
}

/** Write permission: whether the user may insert a message for the topic (RLS insert policy). */
export async function authorizeWrite(
  db: LocalDb,
  claims: Claims,
  topic: string,
  log: (line: string) => void,
): Promise<WritePolicies> {
  if (!requestRoles.has(claims.role)) return { broadcast: false, presence: false }
  return inRolledBackTransaction(db, async (tx) => {
    await setAuthorizationContext(tx, claims, topic)
    const canInsert = async (extension: string): Promise<boolean> => {
      await tx.exec('savepoint realtime_write_check')
      try {
        await tx.query('insert into realtime.messages (topic, extension) values ($1, $2)', [topic, extension])
        await tx.exec('release savepoint realtime_write_check')
        return true
      } catch (error) {
        await tx.exec('rollback to savepoint realtime_write_check')
        if ((error as { code?: string }).code !== '42501')
          log(`realtime: write check on ${topic} failed: ${(error as Error).message}`)
        return false
      }
    }
    return { broadcast: await canInsert('broadcast'), presence: await canInsert('presence') }
  })
}
