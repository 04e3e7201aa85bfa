// Tenancy end to end with the real supabase-js on the local stack: two users in two
// tenants each see only their own agents, conversations and realtime events, and
// refusals arrive with PostgREST's status codes.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type ApiClient, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

interface Tenant {
  client: ApiClient
  userId: string
  tenantId: string
  agentId: string
  widgetChannelId: string
}

interface Broadcast {
  event: string
  payload: Record<string, unknown>
}

async function rpc<T>(client: ApiClient, fn: string, args: Record<string, unknown> = {}): Promise<T> {
  const { data, error } = await client.rpc(fn, args)
  if (error) throw new Error(`${fn} failed: ${error.code} ${error.message}`)
  return data as T
}

let stack: TestStack

async function setUpTenant(label: string): Promise<Tenant> {
  const { client, userId } = await stack.newUser(label)
  const tenant = await rpc<{ id: string; role: string }>(client, 'create_tenant', { name: `Tenant ${label}` })
  expect(tenant.role).toBe('owner')
  const agent = await rpc<{ id: string }>(client, 'deploy_agent_template', {
    tenant_id: tenant.id,
    template_key: 'customer_support_rep',
    name: `Agent ${label}`,
  })
  const channel = await rpc<{ id: string; widget_key: string }>(client, 'create_web_chat_channel', {
    tenant_id: tenant.id,
    name: `Widget ${label}`,
    agent_id: agent.id,
  })
  return { client, userId, tenantId: tenant.id, agentId: agent.id, widgetChannelId: channel.id }
}

/** Subscribes to the private tenant topic as the signed-in user; resolves once joined. */
async function subscribeToTenant(
  tenant: Tenant,
  topicTenantId = tenant.tenantId,
): Promise<{ channel: RealtimeChannel; received: Broadcast[]; status: string }> {
  const { data } = await tenant.client.auth.getSession()
  await tenant.client.realtime.setAuth(data.session!.access_token)
  const received: Broadcast[] = []
  const channel = tenant.client.channel(`tenant:${topicTenantId}`, { config: { private: true } })
  channel.on('broadcast', { event: '*' }, (message) =>
    received.push({ event: message.event, payload: message.payload as Record<string, unknown> }),
  )
  const statuses: string[] = []
  channel.subscribe((status) => statuses.push(status))
  const status = await until(() => statuses[0])
  return { channel, received, status }
}

describe('tenancy through supabase-js', () => {
  let a: Tenant
  let b: Tenant

  beforeAll(async () => {
    stack = await startTestStack()
    a = await setUpTenant('alice')
    b = await setUpTenant('bob')
  })

  afterAll(async () => {
    await stack?.close()
  })

  it('lists only the caller’s tenants and agents', async () => {
    const tenantsOfA = await rpc<Array<{ id: string }>>(a.client, 'list_my_tenants')
    expect(tenantsOfA.map((t) => t.id)).toEqual([a.tenantId])

    const agentsOfA = await rpc<Array<{ id: string }>>(a.client, 'list_agents', { tenant_id: a.tenantId })
    expect(agentsOfA.map((agent) => agent.id)).toEqual([a.agentId])
    const agentsOfB = await rpc<Array<{ id: string }>>(b.client, 'list_agents', { tenant_id: b.tenantId })
    expect(agentsOfB.map((agent) => agent.id)).toEqual([b.agentId])
  })

  it('refuses another tenant’s data with 403, and an unknown row with 404-like not found', async () => {
    const listed = await a.client.rpc('list_agents', { tenant_id: b.tenantId })
    expect(listed.error?.code).toBe('42501')
    expect(listed.status).toBe(403)

    const fetched = await a.client.rpc('get_agent', { agent_id: b.agentId })
    expect(fetched.error?.code).toBe('P0002')

    const renamed = await a.client.rpc('update_agent', { agent_id: b.agentId, changes: { name: 'mine now' } })
    expect(renamed.error?.code).toBe('P0002')
    const stillB = await rpc<{ name: string }>(b.client, 'get_agent', { agent_id: b.agentId })
    expect(stillB.name).toBe('Agent bob')
  })

  it('keeps the api closed to anon and the service functions closed to users', async () => {
    const anon = await stack.anonClient().rpc('list_agent_templates')
    expect(anon.error?.code).toBe('42501')
    expect(anon.status).toBe(401)

    const ingestAsUser = await a.client.rpc('ingest_message', {
      connection_id: a.widgetChannelId,
      external_id: 'forged',
      thread_key: 'forged',
      external_user_id: 'forged',
      text: 'forged',
    })
    expect(ingestAsUser.error?.code).toBe('42501')
  })

  it('shows each user only their own conversations', async () => {
    const service = stack.serviceClient()
    const first = await rpc<{ conversation_id: string; duplicate: boolean; enqueued: boolean }>(
      service,
      'ingest_message',
      {
        connection_id: a.widgetChannelId,
        external_id: 'a-visitor-1',
        thread_key: 'visitor-a',
        external_user_id: 'visitor-a',
        text: 'Hello A',
        user_display_name: 'Visitor of A',
      },
    )
    expect(first).toMatchObject({ duplicate: false, enqueued: true })
    const retried = await rpc<{ conversation_id: string; duplicate: boolean }>(service, 'ingest_message', {
      connection_id: a.widgetChannelId,
      external_id: 'a-visitor-1',
      thread_key: 'visitor-a',
      external_user_id: 'visitor-a',
      text: 'Hello A',
    })
    expect(retried).toMatchObject({ duplicate: true, conversation_id: first.conversation_id })
    const other = await rpc<{ conversation_id: string }>(service, 'ingest_message', {
      connection_id: b.widgetChannelId,
      external_id: 'b-visitor-1',
      thread_key: 'visitor-b',
      external_user_id: 'visitor-b',
      text: 'Hello B',
    })

    const seenByA = await rpc<Array<{ id: string; contact_name: string }>>(a.client, 'list_conversations', {
      tenant_id: a.tenantId,
    })
    expect(seenByA.map((c) => c.id)).toEqual([first.conversation_id])
    expect(seenByA[0].contact_name).toBe('Visitor of A')
    const messagesOfA = await rpc<Array<{ text: string }>>(a.client, 'list_messages', {
      conversation_id: first.conversation_id,
    })
    expect(messagesOfA.map((m) => m.text)).toEqual(['Hello A'])

    const seenByB = await rpc<Array<{ id: string }>>(b.client, 'list_conversations', { tenant_id: b.tenantId })
    expect(seenByB.map((c) => c.id)).toEqual([other.conversation_id])
    const peek = await b.client.rpc('list_messages', { conversation_id: first.conversation_id })
    expect(peek.error?.code).toBe('P0002')
  })

  it('delivers realtime events of a tenant to its members only', async () => {
    const ofA = await subscribeToTenant(a)
    const ofB = await subscribeToTenant(b)
    expect(ofA.status).toBe('SUBSCRIBED')
    expect(ofB.status).toBe('SUBSCRIBED')

    // Bob may not even join Alice's topic.
    const intruder = await subscribeToTenant(b, a.tenantId)
    expect(intruder.status).toBe('CHANNEL_ERROR')

    const ingested = await rpc<{ message_id: string; conversation_id: string }>(
      stack.serviceClient(),
      'ingest_message',
      {
        connection_id: a.widgetChannelId,
        external_id: 'a-visitor-2',
        thread_key: 'visitor-a2',
        external_user_id: 'visitor-a2',
        text: 'Live for A',
      },
    )
    const created = await until(() =>
      ofA.received.find((m) => m.event === 'message_created' && m.payload.id === ingested.message_id),
    )
    expect(created.payload).toMatchObject({
      text: 'Live for A',
      conversation_id: ingested.conversation_id,
      direction: 'in',
    })
    await until(() =>
      ofA.received.find((m) => m.event === 'conversation_changed' && m.payload.id === ingested.conversation_id),
    )

    // Give any stray delivery time to arrive before asserting its absence.
    await new Promise((resolve) => setTimeout(resolve, 300))
    // Bob may still get his own tenant's events (the agent worker answers earlier
    // messages), but never one of Alice's.
    expect(ofB.received.every((m) => m.payload.tenant_id === b.tenantId)).toBe(true)
    expect(ofB.received.some((m) => JSON.stringify(m.payload).includes(a.tenantId))).toBe(false)
    expect(intruder.received).toEqual([])

    await Promise.all([ofA.channel, ofB.channel, intruder.channel].map((channel) => channel.unsubscribe()))
  })
})
