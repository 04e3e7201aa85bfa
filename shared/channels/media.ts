// What fetching a customer's attachment from its channel (slack/files.ts, whatsapp/media.ts)
// has in common: the channel's token, sent through the guarded client (../net/guarded-fetch.ts: public addresses
// only, the checked address pinned, redirects re-checked and stripped of the token when
// they leave the origin, a size cap).
//
// Rules:
//   1. A token goes only to its channel's own hosts: Slack's bot token to Slack's file host,
//      WhatsApp's access token to the Graph API and to Meta's media host. A url_private or a
//      media URL anywhere else is refused before any request is sent, so a forged or
//      foreign URL never receives a token. The one exception is the origin the operator
//      configured (SLACK_API_URL, WHATSAPP_API_URL): tests and self-hosters point those at
//      their own servers, and that origin is trusted as the channel itself.
//   2. WhatsApp: GET /{version}/{media-id} answers a short-lived url (about five minutes),
//      its type and size; that url is fetched with the same bearer token (rule 1 applies).
//   3. A file larger than the cap is refused before it is downloaded when its size is known,
//      and while it is read otherwise; the message says so in words.
import { GuardedFetchError, guardedFetch, hostMatchesAllowList, type ResolveHost } from '../net/guarded-fetch.ts'

/** What the inbox fetches at most per file, unless MEDIA_MAX_BYTES says otherwise. */
export const DEFAULT_MEDIA_MAX_BYTES = 20 * 1024 * 1024

export interface MediaConfig {
  /** WHATSAPP_API_URL (Graph by default). */
  whatsappApiUrl?: string
  whatsappApiVersion?: string
  /** SLACK_API_URL: only its origin matters here (see rule 1). */
  slackApiUrl?: string
  maxBytes: number
  resolveHost: ResolveHost
  /** Replaces the connection (see GuardedFetchOptions.fetch); tests only. */
  fetch?: typeof fetch
  timeoutMs?: number
}

export type MediaResult =
  | { ok: true; bytes: Uint8Array; mimeType: string | null }
  | { ok: false; status: 404 | 413 | 502; message: string; reason: string }

function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024)
  return `${mb >= 10 ? Math.round(mb) : Math.round(mb * 10) / 10} MB`
}

export function tooLarge(maxBytes: number, channel: string, size?: number): MediaResult {
  const what = size ? `This file is ${megabytes(size)}` : 'This file is too large'
  return {
    ok: false,
    status: 413,
    reason: 'too_large',
    message: `${what}; the inbox fetches files up to ${megabytes(maxBytes)}. Open it in ${channel}.`,
  }
}

function originOf(url: string): URL | null {
  try {
    return new URL(url)
  } catch {
    return null
  }
}

/** Rule 1: may this URL receive the channel's token? */
export function tokenMayGoTo(rawUrl: string, hosts: readonly string[], configuredOrigin: string | null): boolean {
  const url = originOf(rawUrl)
  if (!url || url.username || url.password) return false
  if (configuredOrigin !== null && url.origin === configuredOrigin) return true
  return url.protocol === 'https:' && url.port === '' && hostMatchesAllowList(url.hostname, hosts)
}

/** The operator's origin when it is not the real service's (rule 1's exception). */
export function configuredOrigin(configured: string | undefined, real: string): URL | null {
  if (!configured) return null
  const url = originOf(configured)
  return url && url.origin !== new URL(real).origin ? url : null
}

export async function fetchWithToken(
  url: string,
  token: string,
  hosts: readonly string[],
  configured: URL | null,
  config: MediaConfig,
) {
  const port = configured ? Number(configured.port || (configured.protocol === 'https:' ? 443 : 80)) : 443
  return guardedFetch(
    url,
    { headers: { authorization: `Bearer ${token}` } },
    {
      allowHosts: configured ? [...hosts, configured.hostname] : hosts,
      allowPorts: [443, 80, port],
      schemes: configured?.protocol === 'http:' ? ['https:', 'http:'] : ['https:'],
      trustedOrigin: configured?.origin,
      resolveHost: config.resolveHost,
      fetch: config.fetch,
      maxResponseBytes: config.maxBytes,
      timeoutMs: config.timeoutMs ?? 20_000,
      maxRedirects: 3,
    },
  )
}

export function refusal(error: unknown, maxBytes: number, channel: string): MediaResult {
  if (error instanceof GuardedFetchError && error.code === 'too_large') return tooLarge(maxBytes, channel)
  const reason = error instanceof GuardedFetchError ? error.code : 'network'
  return { ok: false, status: 502, reason, message: `${channel} did not send the file. Try again later.` }
}
