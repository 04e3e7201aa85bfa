// Small HTTP plumbing shared by the local stack's services.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LocalDb } from './db.ts'
import type { StackKeys } from './keys.ts'

/** What every service of the local stack gets. */
export interface StackContext {
  db: LocalDb
  keys: StackKeys
  /** Base URL of the stack, e.g. http://127.0.0.1:54321 */
  url: string
  /** Repository root (holds supabase/, functions/). */
  root: string
  /** Extra environment for edge functions (functions/.env and the caller's env). */
  functionEnv: Record<string, string>
  log: (line: string) => void
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL, ctx: StackContext) => Promise<void>

/** Largest request body accepted, like Kong/PostgREST in front of Supabase. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024

export class BodyTooLarge extends Error {}

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) {
    req.resume()
    throw new BodyTooLarge(`body exceeds ${limit} bytes`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) {
      req.resume()
      throw new BodyTooLarge(`body exceeds ${limit} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
  res.end(text)
}

/** The bearer token of a request, or the apikey header when there is none. */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization
  if (auth && /^bearer /i.test(auth)) return auth.slice(7).trim()
  const apikey = req.headers.apikey
  return typeof apikey === 'string' ? apikey : undefined
}
