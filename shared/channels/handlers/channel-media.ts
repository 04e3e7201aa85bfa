// The channel-media function: the bytes of a file a customer sent, for a member who may read
// that message. The portal's /media/<message>/<index> route asks it with the member's session.
//
// GET ?message_id=<uuid>&index=<n>
//   1. a signed-in person's access token, verified against the project's JWKS here
//      (verify_jwt = false, like model-check); anything else is 401;
//   2. api.get_attachment as that person: row level security decides, so another tenant's
//      message, an unknown one and an outbound one are all the same 404;
//   3. the connection's token is read with the service role (api.get_channel_token) and never
//      leaves this function;
//   4. the channel's own module fetches the bytes (../slack/files.ts, ../whatsapp/media.ts:
//      its hosts only, size cap; ../media.ts);
//   5. the answer is inline only for allowlisted image types, a download otherwise, with
//      nosniff and a CSP that runs nothing.
import { z } from 'zod'
import { bearerOf, userVerifier, type UserCheck } from '../../api/callers.ts'
import { ApiError, type Api } from '../../api/client.ts'
import { projectFromEnv, requirePublishableKey, serviceApi, userApi, type Project } from '../../api/project.ts'
import type { ResolveHost } from '../../net/guarded-fetch.ts'
import { numberEnv, optionalEnv, type Env } from '../../runtime/env.ts'
import { consoleLog, describeError, text, type Log } from '../../runtime/http.ts'
import { attachmentHeaders, attachmentSchema } from '../attachments.ts'
import { DEFAULT_MEDIA_MAX_BYTES, type MediaConfig } from '../media.ts'
import { fetchSlackFile } from '../slack/files.ts'
import { fetchWhatsAppMedia } from '../whatsapp/media.ts'

export interface ChannelMediaConfig {
  project: Project
  media: Omit<MediaConfig, 'resolveHost' | 'fetch'>
}

export function channelMediaConfigFromEnv(env: Env): ChannelMediaConfig {
  const project = projectFromEnv(env)
  requirePublishableKey(project)
  return {
    project,
    media: {
      whatsappApiUrl: optionalEnv(env, 'WHATSAPP_API_URL'),
      whatsappApiVersion: optionalEnv(env, 'WHATSAPP_API_VERSION'),
      slackApiUrl: optionalEnv(env, 'SLACK_API_URL'),
      maxBytes: numberEnv(env, 'MEDIA_MAX_BYTES', DEFAULT_MEDIA_MAX_BYTES),
    },
  }
}

export interface ChannelMediaDeps {
  resolveHost: ResolveHost
  fetch?: typeof fetch
  userRpc?: (accessToken: string) => Api
  serviceRpc?: Api
  verifyUser?: UserCheck
  log?: Log
}

const querySchema = z.object({
  message_id: z.string().uuid(),
  index: z.coerce.number().int().min(0).max(99),
})

const storedSchema = z.object({
  connection_id: z.string().uuid(),
  attachment: attachmentSchema,
})

const notFound = () => text(404, 'This file does not exist or you cannot see it.')

export function createChannelMediaHandler(config: ChannelMediaConfig, deps: ChannelMediaDeps) {
  const log = deps.log ?? consoleLog
  const userRpc = deps.userRpc ?? ((accessToken: string) => userApi(config.project, accessToken))
  const serviceRpc = deps.serviceRpc ?? serviceApi(config.project)
  const verifyUser = deps.verifyUser ?? userVerifier(config.project)
  const media: MediaConfig = { ...config.media, resolveHost: deps.resolveHost, fetch: deps.fetch }

  return async function handleChannelMedia(req: Request): Promise<Response> {
    if (req.method !== 'GET') return text(405, 'method not allowed', { allow: 'GET' })
    const token = bearerOf(req)
    const caller = await verifyUser(token)
    if (!token || !caller || caller.is_anonymous) return text(401, 'Sign in first.')
    const query = querySchema.safeParse(Object.fromEntries(new URL(req.url).searchParams))
    if (!query.success) return notFound()

    let stored: z.infer<typeof storedSchema>
    try {
      const row = await userRpc(token)('get_attachment', {
        message_id: query.data.message_id,
        attachment_index: query.data.index,
      })
      const parsed = storedSchema.safeParse(row)
      if (!parsed.success) return notFound()
      stored = parsed.data
    } catch (error) {
      if (error instanceof ApiError && ['P0002', '42501', '22P02'].includes(error.code ?? '')) return notFound()
      log('channel_media.lookup_failed', { error: describeError(error) })
      return text(502, 'The file could not be looked up. Try again.')
    }

    let channelToken: string | null
    try {
      channelToken = await serviceRpc<string | null>('get_channel_token', { connection_id: stored.connection_id })
    } catch (error) {
      log('channel_media.token_failed', { error: describeError(error) })
      return text(502, 'The file could not be fetched. Try again.')
    }
    if (!channelToken) return text(404, 'This channel is no longer connected, so its files cannot be fetched.')

    const { attachment } = stored
    const result =
      'whatsapp_media_id' in attachment
        ? await fetchWhatsAppMedia(attachment, channelToken, media)
        : await fetchSlackFile(attachment, channelToken, media)
    if (!result.ok) {
      log('channel_media.refused', { message_id: query.data.message_id, reason: result.reason })
      return text(result.status, result.message)
    }
    return new Response(result.bytes as BodyInit, {
      status: 200,
      headers: attachmentHeaders(stored.attachment, result.bytes.byteLength),
    })
  }
}
