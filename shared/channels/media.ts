// Fetches the bytes of a customer's attachment from the channel that keeps them, with the
// channel's token, through the guarded client (../net/guarded-fetch.ts: public addresses
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
import type { Attachment, SlackAttachment, WhatsAppAttachment } from './attachments.ts'
import { DEFAULT_SLACK_API_URL } from './slack/web-api.ts'
import { DEFAULT_WHATSAPP_API_URL, DEFAULT_WHATSAPP_API_VERSION } from './whatsapp/cloud-api.ts'

/** Where Slack serves url_private / url_private_download. */
export const SLACK_FILE_HOSTS = ['files.slack.com']
/** Where the Graph API's media urls point (lookaside.fbsbx.com today). */
export const META_MEDIA_HOSTS = ['lookaside.fbsbx.com', '*.fbsbx.com']
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

function tooLarge(maxBytes: number, channel: string, size?: number): MediaResult {
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
function configuredOrigin(configured: string | undefined, real: string): URL | null {
  if (!configured) return null
  const url = originOf(configured)
  return url && url.origin !== new URL(real).origin ? url : null
}

async function fetchWithToken(
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

function refusal(error: unknown, maxBytes: number, channel: string): MediaResult {
  if (error instanceof GuardedFetchError && error.code === 'too_large') return tooLarge(maxBytes, channel)
  const reason = error instanceof GuardedFetchError ? error.code : 'network'
  return { ok: false, status: 502, reason, message: `${channel} did not send the file. Try again later.` }
}

export async function fetchSlackFile(file: SlackAttachment, token: string, config: MediaConfig): Promise<MediaResult> {
  if (file.size && file.size > config.maxBytes) return tooLarge(config.maxBytes, 'Slack', file.size)
  const configured = configuredOrigin(config.slackApiUrl, DEFAULT_SLACK_API_URL)
  if (!tokenMayGoTo(file.slack_url_private, SLACK_FILE_HOSTS, configured?.origin ?? null)) {
    return {
      ok: false,
      status: 502,
      reason: 'host_not_allowed',
      message: 'This file is not on Slack, so it was not fetched.',
    }
  }
  try {
    const response = await fetchWithToken(file.slack_url_private, token, SLACK_FILE_HOSTS, configured, config)
    // Slack answers a login page (200, text/html) to a token that may not read the file.
    const type = response.headers.get('content-type')
    if (response.status !== 200 || (type?.startsWith('text/html') && !file.mime_type?.startsWith('text/html'))) {
      return {
        ok: false,
        status: response.status === 404 ? 404 : 502,
        reason: `slack_${response.status}`,
        message: 'Slack did not send the file: it may have been deleted, or the app may not see it.',
      }
    }
    return { ok: true, bytes: response.body, mimeType: file.mime_type ?? type }
  } catch (error) {
    return refusal(error, config.maxBytes, 'Slack')
  }
}

export async function fetchWhatsAppMedia(
  media: WhatsAppAttachment,
  token: string,
  config: MediaConfig,
): Promise<MediaResult> {
  const configured = configuredOrigin(config.whatsappApiUrl, DEFAULT_WHATSAPP_API_URL)
  const apiUrl = (config.whatsappApiUrl ?? DEFAULT_WHATSAPP_API_URL).replace(/\/+$/, '')
  const version = config.whatsappApiVersion ?? DEFAULT_WHATSAPP_API_VERSION
  const graphHosts = [new URL(DEFAULT_WHATSAPP_API_URL).hostname]
  let described: { url?: unknown; mime_type?: unknown; file_size?: unknown }
  try {
    const response = await fetchWithToken(
      `${apiUrl}/${version}/${encodeURIComponent(media.whatsapp_media_id)}`,
      token,
      graphHosts,
      configured,
      { ...config, maxBytes: 64 * 1024 },
    )
    if (response.status !== 200) {
      // Graph forgets media after 30 days (error 100 / 404): gone for good.
      return {
        ok: false,
        status: response.status === 404 || response.status === 400 ? 404 : 502,
        reason: `graph_${response.status}`,
        message: 'WhatsApp no longer has this file (media expire after 30 days).',
      }
    }
    described = JSON.parse(response.text()) as typeof described
  } catch (error) {
    return refusal(error, config.maxBytes, 'WhatsApp')
  }
  const size = Number(described.file_size)
  if (Number.isFinite(size) && size > config.maxBytes) return tooLarge(config.maxBytes, 'WhatsApp', size)
  const url = typeof described.url === 'string' ? described.url : ''
  if (!tokenMayGoTo(url, META_MEDIA_HOSTS, configured?.origin ?? null)) {
    return {
      ok: false,
      status: 502,
      reason: 'host_not_allowed',
      message: 'WhatsApp named a download address that is not Meta’s, so it was not fetched.',
    }
  }
  try {
    const response = await fetchWithToken(url, token, META_MEDIA_HOSTS, configured, config)
    if (response.status !== 200) {
      return {
        ok: false,
        status: 502,
        reason: `media_${response.status}`,
        message: 'WhatsApp did not send the file. Try again later.',
      }
    }
    const mimeType =
      media.mime_type ?? (typeof described.mime_type === 'string' ? described.mime_type : null) ?? null
    return { ok: true, bytes: response.body, mimeType }
  } catch (error) {
    return refusal(error, config.maxBytes, 'WhatsApp')
  }
}

export function fetchAttachment(attachment: Attachment, token: string, config: MediaConfig): Promise<MediaResult> {
  return 'whatsapp_media_id' in attachment
    ? fetchWhatsAppMedia(attachment, token, config)
    : fetchSlackFile(attachment, token, config)
}
