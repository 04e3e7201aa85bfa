// The bytes of a file a Slack user shared (its url_private), fetched with the bot token
// under the rules of ../media.ts: the token goes to Slack's file host only.
import type { SlackAttachment } from '../attachments.ts'
import {
  configuredOrigin,
  fetchWithToken,
  refusal,
  tokenMayGoTo,
  tooLarge,
  type MediaConfig,
  type MediaResult,
} from '../media.ts'
import { DEFAULT_SLACK_API_URL } from './web-api.ts'

/** Where Slack serves url_private / url_private_download. */
export const SLACK_FILE_HOSTS = ['files.slack.com']

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
