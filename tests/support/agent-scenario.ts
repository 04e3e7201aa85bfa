// A local stack with the agent worker awake and every outside API faked (OpenAI, Slack,
// WhatsApp), for end-to-end agent tests: signed webhooks in, the real agent-worker
// function under Deno, replies out to the fakes. Waits are on conditions, never sleeps;
// timings (visibility timeout, backoff, the cron safety net) are shrunk through the
// function environment so retries happen within seconds.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai.ts'
import { signSlackRequest, slackEventEnvelope, startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { signWhatsAppBody, startFakeWhatsApp, whatsAppTextWebhook, type FakeWhatsApp } from '../fakes/fake-whatsapp.ts'
import { setWakeUps as setStackWakeUps, startTestStack, type ApiClient, type TestStack } from './stack.ts'
import { until } from './until.ts'
import { testWorkerEnv } from './worker-env.ts'

export { until }

// The seeded demo tenant (supabase/seed.sql).
export const TENANT = '10000000-0000-4000-8000-000000000001'
export const AGENT = '20000000-0000-4000-8000-000000000001'
export const WEB_CHAT = '30000000-0000-4000-8000-000000000001'
export const SLACK = '30000000-0000-4000-8000-000000000002'
export const WHATSAPP = '30000000-0000-4000-8000-000000000003'
export const SLACK_TEAM = 'T0KONSTRUCT'
export const SLACK_BOT = 'U0KONSTRUCT'
export const WHATSAPP_PHONE_ID = '100000000000001'
export const ADMIN = { email: 'admin@konstruct.local', password: 'konstruct-demo' }

const SLACK_SIGNING_SECRET = 'agent-scenario-slack-signing-secret'
const WHATSAPP_APP_SECRET = 'agent-scenario-whatsapp-app-secret'

export interface OutboundRow {
  id: string
  author_kind: string
  text: string
  delivery_status: string
  external_id: string | null
  metadata: Record<string, any>
}

export interface AgentScenario {
  stack: TestStack
  openai: FakeOpenAI
  slack: FakeSlack
  whatsapp: FakeWhatsApp
  service: ApiClient
  /** Signed in as the demo tenant's owner. */
  admin: ApiClient
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>
  /** Outbound messages of a conversation, oldest first. */
  outbound(conversationId: string): Promise<OutboundRow[]>
  /** Turns pg_net wake-ups (and so the cron safety net) on or off. */
  setWakeUps(enabled: boolean): Promise<void>
  /** Posts a signed Slack event (Events API) to functions/v1/slack-events. */
  postSlackEvent(event: Record<string, unknown>): Promise<Response>
  /** Posts a signed WhatsApp text message to functions/v1/whatsapp-webhook. */
  postWhatsAppText(from: string, text: string, name?: string): Promise<Response>
  /** The conversation a channel thread landed in, once the webhook stored it. */
  conversationOf(connectionId: string, threadKey: string): Promise<string>
  close(): Promise<void>
}

/** A Slack timestamp that sorts after every earlier one in this process. */
let tsCounter = 0
export function slackTs(): string {
  return `${Math.floor(Date.now() / 1000)}.${String(++tsCounter).padStart(6, '0')}`
}

export async function startAgentScenario(
  functionEnv: Record<string, string> = {},
  options: { slackStreaming?: boolean } = {},
): Promise<AgentScenario> {
  const openai = await startFakeOpenAI()
  const slack = await startFakeSlack({ teamId: SLACK_TEAM, botUserId: SLACK_BOT, streaming: options.slackStreaming })
  const whatsapp = await startFakeWhatsApp()
  const stack = await startTestStack({
    functionEnv: {
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: 'sk-test-platform',
      SLACK_API_URL: slack.url,
      SLACK_SIGNING_SECRET,
      WHATSAPP_API_URL: whatsapp.url,
      WHATSAPP_APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'agent-scenario-verify-token',
      ...testWorkerEnv,
      ...functionEnv,
    },
  })
  const service = stack.serviceClient()
  const admin = stack.anonClient()
  const { error } = await admin.auth.signInWithPassword(ADMIN)
  if (error) throw error
  // The safety net every second, so a job whose visibility timeout ran out is picked up at once.
  await stack.db.asOwner(async (tx) => {
    await tx.query(`select app.schedule_worker_safety_net('1 seconds')`)
  })
  const functionsUrl = `${stack.url}/functions/v1`

  const sql = async <T = Record<string, unknown>>(query: string, params: unknown[] = []) =>
    (await stack.db.pg.query<T>(query, params)).rows

  return {
    stack,
    openai,
    slack,
    whatsapp,
    service,
    admin,
    sql,
    outbound: (conversationId) =>
      sql<OutboundRow>(
        `select id, author_kind, text, delivery_status, external_id, metadata from app.messages
         where conversation_id = $1 and direction = 'out' order by seq`,
        [conversationId],
      ),
    async setWakeUps(enabled) {
      await setStackWakeUps(stack, enabled)
    },
    async postSlackEvent(event) {
      const body = JSON.stringify(slackEventEnvelope(event, { teamId: SLACK_TEAM, botUserId: SLACK_BOT }))
      return fetch(`${functionsUrl}/slack-events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signSlackRequest(SLACK_SIGNING_SECRET, body) },
        body,
      })
    },
    async postWhatsAppText(from, text, name = 'Test Customer') {
      const body = JSON.stringify(whatsAppTextWebhook({ phoneNumberId: WHATSAPP_PHONE_ID, from, text, name }))
      return fetch(`${functionsUrl}/whatsapp-webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signWhatsAppBody(WHATSAPP_APP_SECRET, body),
        },
        body,
      })
    },
    async conversationOf(connectionId, threadKey) {
      return until(async () => {
        const rows = await sql<{ id: string }>(
          `select id from app.conversations where connection_id = $1 and thread_key = $2`,
          [connectionId, threadKey],
        )
        return rows[0]?.id
      }, `the conversation of ${threadKey}`)
    },
    async close() {
      await stack?.close()
      await openai?.close()
      await slack?.close()
      await whatsapp?.close()
    },
  }
}

export interface Broadcast {
  event: string
  payload: Record<string, any>
}

/** Subscribes a signed-in client to its tenant's private topic; resolves once joined. */
export async function subscribeToTenant(
  client: ApiClient,
  tenantId = TENANT,
): Promise<{ channel: RealtimeChannel; received: Broadcast[] }> {
  const { data } = await client.auth.getSession()
  await client.realtime.setAuth(data.session!.access_token)
  const received: Broadcast[] = []
  const channel = client.channel(`tenant:${tenantId}`, { config: { private: true } })
  channel.on('broadcast', { event: '*' }, (message) =>
    received.push({ event: message.event, payload: message.payload as Record<string, any> }),
  )
  const statuses: string[] = []
  channel.subscribe((status) => statuses.push(status))
  const status = await until(() => statuses[0], 'the realtime subscription')
  if (status !== 'SUBSCRIBED') throw new Error(`could not join tenant:${tenantId}: ${status}`)
  return { channel, received }
}
