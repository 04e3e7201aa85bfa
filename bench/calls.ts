// Requests per message: the API functions and edge functions a measured run called on the
// local stack, and the round trips to a native server, divided by the messages it handled.
// Unlike a latency these hold on a busy machine, so an A/B of a change reads off them.
import type { LocalStack } from '../local/server.ts'

export interface CallsMark {
  calls: Map<string, number>
  roundTrips: number | null
}

export function markCalls(stack: LocalStack): CallsMark {
  return { calls: new Map(stack.calls), roundTrips: stack.db.native?.roundTrips ?? null }
}

/**
 * Calls made since `mark`, per message, by name (rpc/<fn>, functions/<name>); `ownRoundTrips`
 * are the bench's own queries in that time, left out.
 */
export function callsPerMessage(stack: LocalStack, mark: CallsMark, messages: number, ownRoundTrips = 0) {
  const per = (n: number) => Math.round((n / messages) * 100) / 100
  const byName: Record<string, number> = {}
  let rpc = 0
  for (const [name, count] of [...stack.calls].sort(([a], [b]) => a.localeCompare(b))) {
    const made = count - (mark.calls.get(name) ?? 0)
    if (made <= 0) continue
    byName[name] = per(made)
    if (name.startsWith('rpc/')) rpc += made
  }
  const roundTrips = stack.db.native ? stack.db.native.roundTrips - (mark.roundTrips ?? 0) - ownRoundTrips : null
  return {
    api_calls: per(rpc),
    // Round trips to PostgreSQL, every caller included (the stack's pg_net and realtime too).
    db_round_trips: roundTrips === null ? null : per(roundTrips),
    by_name: byName,
  }
}
