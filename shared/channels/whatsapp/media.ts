// The bytes of media a WhatsApp customer sent, fetched with the number's access token under
// the rules of ../media.ts: Graph's GET /{version}/{media-id} names a short-lived url, which is
// fetched with the same token only when it is on Meta's media host.
import type { WhatsAppAttachment } from '../attachments.ts'
import {
  configuredOrigin,
  fetchWithToken,
  refusal,
  tokenMayGoTo,
  tooLarge,
  type MediaConfig,
  type MediaResult,
} from '../media.ts'
import { DEFAULT_WHATSAPP_API_URL, DEFAULT_WHATSAPP_API_VERSION } from './cloud-api.ts'

/** Where the Graph API's media urls point (lookaside.fbsbx.com today). */
export const META_MEDIA_HOSTS = ['lookaside.fbsbx.com', '*.fbsbx.com']

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
    const mimeType = media.mime_type ?? (typeof described.mime_type === 'string' ? described.mime_type : null) ?? null
    return { ok: true, bytes: response.body, mimeType }
  } catch (error) {
    return refusal(error, config.maxBytes, 'WhatsApp')
  }
}
