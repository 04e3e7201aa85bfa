// The contact_profile job: a Slack user's name and avatar, looked up once (users.info with
// the workspace's bot token) the first time they are seen (their first message, in a thread
// of their own or someone else's: app.enqueue_identity_profile), never on the webhook's path.
// What Slack will not say (user not found, no token) is recorded as looked up with no
// name, so it is not asked again; a rate limit or outage throws and the queue retries.
import { z } from 'zod'
import { createSlackWebClient, SlackApiError } from '../../../channels/slack/web-api.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind } from '../executor.ts'

export const contactProfileJobSchema = z.object({
  kind: z.literal('contact_profile'),
  tenant_id: z.string().uuid(),
  connection_id: z.string().uuid(),
  external_user_id: z.string().min(1).max(255),
})
export type ContactProfileJob = z.infer<typeof contactProfileJobSchema>

export interface ContactProfileDeps {
  profileNeeded(tenantId: string, channel: 'slack', externalUserId: string): Promise<boolean>
  getChannelToken(connectionId: string): Promise<string | null>
  recordProfile(input: {
    tenantId: string
    channel: 'slack'
    externalUserId: string
    name: string | null
    avatarUrl: string | null
  }): Promise<void>
  slackApiUrl?: string
  fetch?: typeof fetch
}

export async function fetchContactProfile(job: ContactProfileJob, deps: ContactProfileDeps): Promise<string> {
  const who = { tenantId: job.tenant_id, channel: 'slack' as const, externalUserId: job.external_user_id }
  if (!(await deps.profileNeeded(job.tenant_id, 'slack', job.external_user_id))) return 'skipped:known'
  const token = await deps.getChannelToken(job.connection_id)
  if (!token) {
    await deps.recordProfile({ ...who, name: null, avatarUrl: null })
    return 'unknown:no_token'
  }
  const slack = createSlackWebClient({ token, apiUrl: deps.slackApiUrl, fetch: deps.fetch, maxRateLimitRetries: 0 })
  try {
    const profile = await slack.userInfo(job.external_user_id)
    await deps.recordProfile({ ...who, name: profile.name, avatarUrl: profile.avatarUrl })
    return profile.name ? 'named' : 'unknown:no_name'
  } catch (error) {
    // Slack answered and said no (user_not_found, missing_scope …): asking again will not help.
    if (!(error instanceof SlackApiError)) throw error
    await deps.recordProfile({ ...who, name: null, avatarUrl: null })
    return `unknown:${error.code}`
  }
}

export function contactProfileJob(ctx: WorkerContext): JobKind<ContactProfileJob> {
  return {
    schema: contactProfileJobSchema,
    run: (job) =>
      fetchContactProfile(job, {
        profileNeeded: (tenantId, channel, externalUserId) =>
          ctx.store.identityProfileNeeded(tenantId, channel, externalUserId),
        getChannelToken: (connectionId) => ctx.store.getChannelToken(connectionId),
        recordProfile: (input) => ctx.store.recordContactProfile(input),
        slackApiUrl: ctx.config.slackApiUrl,
        fetch: ctx.fetch,
      }),
  }
}
