// Slack on the local stack: the real slack-events, slack-oauth and slack-interactions
// functions under Deno, signed with node:crypto like Slack, against the fake Slack.
import { browserSecret, completeSlackInstall, installSlack } from '../support/slack-install.ts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { signSlackRequest, slackEventEnvelope, startFakeSlack, type FakeSlack } from '../fakes/fake-slack.ts'
import { setWakeUps, startTestStack, type ApiClient, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

const SIGNING_SECRET = 'slack-signing-secret-for-tests'
const DEMO_TEAM = 'T0KONSTRUCT'
const DEMO_BOT = 'U0KONSTRUCT'
const DEMO_SLACK = '30000000-0000-4000-8000-000000000002'

let stack: TestStack
let slack: FakeSlack

beforeAll(async () => {
  slack = await startFakeSlack({
    clientId: 'client-id',
    clientSecret: 'client-secret',
    botToken: 'xoxb-installed-token',
  })
  stack = await startTestStack({
    functionEnv: {
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_CLIENT_ID: 'client-id',
      SLACK_CLIENT_SECRET: 'client-secret',
      SLACK_API_URL: slack.url,
      SLACK_OAUTH_URL: `${slack.root}/oauth/v2/authorize`,
      PORTAL_URL: 'http://portal.test',
    },
  })
  // These tests look at what the channel functions store and send; the agent worker (tested
  // on its own) is not woken, so it cannot add replies or consume jobs underneath them.
  await setWakeUps(stack, false)
})
afterAll(async () => {
  await stack?.close()
  await slack?.close()
})

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}
const messageCount = async () =>
  (await sql<{ n: number }>("select count(*)::int as n from app.messages where direction = 'in'"))[0]!.n
// Jobs the agent answers with (a new Slack user's first message also queues a contact_profile lookup).
const jobCount = async () =>
  (
    await sql<{ n: number }>(
      "select count(*)::int as n from pgmq.q_agent_jobs where message ->> 'kind' <> 'contact_profile'",
    )
  )[0]!.n

function fn(name: string, path = '') {
  return `${stack.url}/functions/v1/${name}${path}`
}

async function postSigned(
  name: string,
  body: string,
  options: { headers?: Record<string, string>; secret?: string; timestamp?: number; contentType?: string } = {},
) {
  return fetch(fn(name), {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/json',
      ...signSlackRequest(options.secret ?? SIGNING_SECRET, body, options.timestamp),
      ...options.headers,
    },
    body,
  })
}

function mention(
  text: string,
  extra: Record<string, unknown> = {},
  envelope: { eventId?: string; teamId?: string } = {},
) {
  const ts = `${Math.floor(Date.now() / 1000)}.${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`
  return slackEventEnvelope(
    {
      type: 'app_mention',
      user: 'U0ALICE',
      text: `<@${DEMO_BOT}> ${text}`,
      ts,
      channel: 'C0GENERAL',
      event_ts: ts,
      ...extra,
    },
    { teamId: envelope.teamId ?? DEMO_TEAM, botUserId: DEMO_BOT, eventId: envelope.eventId },
  )
}

describe('slack-events', () => {
  test('answers url_verification once the request is signed', async () => {
    const body = JSON.stringify({ token: 'x', challenge: 'challenge-abc', type: 'url_verification' })
    const response = await postSigned('slack-events', body)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ challenge: 'challenge-abc' })
  })

  test('a forged, altered, stale, replayed-late or unsigned request is an opaque 401 and stores nothing', async () => {
    const before = await messageCount()
    const body = JSON.stringify(mention('hello'))
    const signed = signSlackRequest(SIGNING_SECRET, body)
    const altered = body.replace('hello', 'hellp') // one byte changed
    const attempts: Array<[string, Record<string, string>]> = [
      [altered, signed],
      [body, signSlackRequest('the-wrong-secret', body)],
      [body, signSlackRequest(SIGNING_SECRET, body, Math.floor(Date.now() / 1000) - 360)],
      [body, signSlackRequest(SIGNING_SECRET, body, Math.floor(Date.now() / 1000) + 360)],
      [body, {}],
      [body, { 'x-slack-request-timestamp': signed['x-slack-request-timestamp'], 'x-slack-signature': 'v0=zz' }],
    ]
    for (const [index, [payload, headers]] of attempts.entries()) {
      const response = await fetch(fn('slack-events'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
      })
      expect({ index, status: response.status }).toEqual({ index, status: 401 })
      expect(await response.text()).toBe('unauthorized')
    }
    expect(await messageCount()).toBe(before)
  })

  test('a mention is stored once and enqueued once, however often Slack delivers it', async () => {
    const envelope = mention('what are your opening hours?')
    const body = JSON.stringify(envelope)
    const beforeJobs = await jobCount()
    const started = performance.now()
    const first = await postSigned('slack-events', body)
    const ackMs = performance.now() - started
    expect(first.status).toBe(200)
    for (const retry of ['1', '2']) {
      const again = await postSigned('slack-events', body, {
        headers: { 'x-slack-retry-num': retry, 'x-slack-retry-reason': 'http_timeout' },
      })
      expect(again.status).toBe(200)
    }
    // The same message also arrives as a plain `message` event with another event id: ignored.
    const asMessage = slackEventEnvelope(
      { ...envelope.event, type: 'message', channel_type: 'channel' },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSigned('slack-events', JSON.stringify(asMessage))).status).toBe(200)

    const rows = await sql<{
      text: string
      thread_key: string
      tenant_id: string
      channel_context: Record<string, unknown>
    }>(
      `select m.text, c.thread_key, m.tenant_id, c.channel_context from app.messages m
       join app.conversations c on c.id = m.conversation_id where m.external_id = $1`,
      [`C0GENERAL:${envelope.event.ts}`],
    )
    expect(rows).toHaveLength(1)
    expect(rows[0]!.text).toBe('what are your opening hours?')
    expect(rows[0]!.thread_key).toBe(`C0GENERAL:${envelope.event.ts}`)
    expect(rows[0]!.tenant_id).toBe('10000000-0000-4000-8000-000000000001')
    expect(rows[0]!.channel_context).toMatchObject({
      slack_channel_id: 'C0GENERAL',
      slack_thread_ts: envelope.event.ts,
    })
    expect(await jobCount()).toBe(beforeJobs + 1)
    console.log(`slack-events first ack (cold function included): ${ackMs.toFixed(1)} ms`)
  })

  test('a burst of mentions is stored together, each once, in fewer calls than events', async () => {
    // 24 distinct mentions, each delivered twice (Slack's retry arrives in the same burst),
    // and 4 from a workspace nobody installed: all acknowledged at once.
    // Each from its own user: one user's burst would meet the per-user rate limit.
    const mentions = Array.from({ length: 24 }, (_, i) => mention(`burst question ${i}`, { user: `U0BURST${i}` }))
    const strangers = Array.from({ length: 4 }, (_, i) => mention(`stranger ${i}`, {}, { teamId: 'T0NOBODY' }))
    const bodies = [...mentions, ...mentions, ...strangers].map((envelope) => JSON.stringify(envelope))
    const beforeMessages = await messageCount()
    const beforeJobs = await jobCount()
    const beforeCalls = stack.calls.get('rpc/ingest_slack_messages') ?? 0
    const callsSince = () => (stack.calls.get('rpc/ingest_slack_messages') ?? 0) - beforeCalls
    // The database is held busy while the burst arrives (a lock every ingest waits for), as
    // a busy database would be: the calls already in flight wait, and the function gathers
    // what arrives meanwhile into the next ones.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const lockTaken = new Promise<void>((resolve) => (locked = resolve))
    const holding = stack.db.pg.transaction(async (tx) => {
      await tx.query('lock table app.messages in share mode')
      locked()
      await held
    })
    await lockTaken
    const acks = Promise.all(bodies.map(async (body) => (await postSigned('slack-events', body)).status))
    await until(() => (callsSince() >= 2 ? true : undefined), 'the first calls in flight')
    await new Promise((resolve) => setTimeout(resolve, 500))
    release()
    await holding
    expect(await acks).toEqual(bodies.map(() => 200))

    const stored = await sql<{ text: string; n: number }>(
      `select text, count(*)::int as n from app.messages where text like 'burst question %' group by text`,
    )
    expect(stored.map((row) => [row.text, row.n]).sort()).toEqual(
      mentions.map((_, i) => [`burst question ${i}`, 1]).sort(),
    )
    expect(await messageCount()).toBe(beforeMessages + 24)
    expect(await jobCount()).toBe(beforeJobs + 24)
    // Two calls went alone before the lock was let go; the other 50 events at most 12 a call.
    console.log(`slack-events: ${bodies.length} events stored in ${callsSince()} calls`)
    expect(callsSince()).toBeGreaterThanOrEqual(5)
    expect(callsSince()).toBeLessThanOrEqual(10)
  })

  test('bot messages, our own messages, edits and joins are acknowledged and ignored', async () => {
    const before = await messageCount()
    const ts = `${Math.floor(Date.now() / 1000)}.000777`
    const events = [
      { type: 'message', channel: 'D0DM', channel_type: 'im', user: 'U0OTHERBOT', bot_id: 'B0OTHER', text: 'beep', ts },
      { type: 'message', channel: 'D0DM', channel_type: 'im', user: DEMO_BOT, text: 'my own words', ts },
      { type: 'message', subtype: 'message_changed', channel: 'D0DM', channel_type: 'im', ts, message: {} },
      { type: 'message', subtype: 'channel_join', channel: 'C0GENERAL', user: 'U0BOB', text: 'joined', ts },
      { type: 'reaction_added', user: 'U0BOB', reaction: 'tada', item: {} },
    ]
    for (const event of events) {
      const envelope = slackEventEnvelope(event, { teamId: DEMO_TEAM, botUserId: 'U0SOMEONEELSE' })
      const response = await postSigned('slack-events', JSON.stringify(envelope))
      expect(response.status).toBe(200)
    }
    expect(await messageCount()).toBe(before)
  })

  test('a DM is one running conversation; a thread reply counts only where the agent already speaks', async () => {
    const before = await messageCount()
    const ts = () => `${Math.floor(Date.now() / 1000)}.${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`
    const dm = slackEventEnvelope(
      { type: 'message', channel: 'D0ALICE', channel_type: 'im', user: 'U0ALICE', text: 'hi there', ts: ts() },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSigned('slack-events', JSON.stringify(dm))).status).toBe(200)
    const [conversation] = await sql<{ thread_key: string }>(
      `select c.thread_key from app.conversations c join app.messages m on m.conversation_id = c.id where m.external_id = $1`,
      [`D0ALICE:${dm.event.ts}`],
    )
    expect(conversation?.thread_key).toBe('D0ALICE')

    // A reply in a channel thread nobody asked the agent into.
    const stranger = slackEventEnvelope(
      {
        type: 'message',
        channel: 'C0RANDOM',
        channel_type: 'channel',
        user: 'U0BOB',
        text: 'lunch?',
        ts: ts(),
        thread_ts: '1700000000.000001',
      },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSigned('slack-events', JSON.stringify(stranger))).status).toBe(200)
    expect(await messageCount()).toBe(before + 1)

    // A reply in the thread of an earlier mention.
    const parent = mention('start a thread')
    expect((await postSigned('slack-events', JSON.stringify(parent))).status).toBe(200)
    const reply = slackEventEnvelope(
      {
        type: 'message',
        channel: 'C0GENERAL',
        channel_type: 'channel',
        user: 'U0ALICE',
        text: 'and one more thing',
        ts: ts(),
        thread_ts: parent.event.ts,
      },
      { teamId: DEMO_TEAM, botUserId: DEMO_BOT },
    )
    expect((await postSigned('slack-events', JSON.stringify(reply))).status).toBe(200)
    const threads = await sql<{ n: number }>(
      `select count(*)::int as n from app.messages m join app.conversations c on c.id = m.conversation_id
       where c.thread_key = $1`,
      [`C0GENERAL:${parent.event.ts}`],
    )
    expect({ parent: parent.event.ts, n: threads[0]!.n }).toEqual({ parent: parent.event.ts, n: 2 })
  })

  test('bad input: malformed JSON 400, unknown workspace 200 with nothing stored', async () => {
    expect((await postSigned('slack-events', '{"type": "event_callback", ')).status).toBe(400)
    const before = await messageCount()
    const unknown = await postSigned('slack-events', JSON.stringify(mention('anyone?', {}, { teamId: 'T0NOBODY' })))
    expect(unknown.status).toBe(200)
    expect(await messageCount()).toBe(before)
  })
})

describe('slack-oauth and uninstall', () => {
  let admin: { client: ApiClient; userId: string }
  let tenantId: string
  let accessToken: string

  beforeAll(async () => {
    admin = await stack.newUser('slack-admin')
    const created = await admin.client.rpc('create_tenant', { name: 'Slack Install Co' })
    expect(created.error).toBeNull()
    tenantId = (created.data as { id: string }).id
    accessToken = (await admin.client.auth.getSession()).data.session!.access_token
  })

  test('an admin installs: token in Vault, connection created, single-use state, next event routed to the tenant', async () => {
    const run = await installSlack(`${stack.url}/functions/v1`, accessToken, tenantId)
    const { start, handOver, completion } = run
    expect(start.status).toBe(302)
    const authorizeUrl = new URL(start.headers.get('location')!)
    expect(authorizeUrl.searchParams.get('client_id')).toBe('client-id')
    expect(authorizeUrl.searchParams.get('redirect_uri')).toBe(`${stack.url}/functions/v1/slack-oauth/callback`)
    // Slack's callback hands the browser to the portal, which completes as the signed-in admin.
    expect(handOver!.origin + handOver!.pathname).toBe('http://portal.test/slack/finish')
    expect(completion).toEqual({ status: 200, body: { tenant_id: tenantId, outcome: 'installed' } })
    expect(slack.calls('oauth.v2.access').at(-1)?.body).toMatchObject({
      client_id: 'client-id',
      client_secret: 'client-secret',
    })

    const service = stack.serviceClient()
    const { data: connection } = await service.rpc('resolve_slack_connection', { team_id: 'T0FAKETEAM' })
    expect(connection).toMatchObject({
      tenant_id: tenantId,
      status: 'active',
      slack_bot_user_id: 'U0FAKEBOT',
      has_token: true,
    })
    const { data: token } = await service.rpc('get_channel_token', { connection_id: connection.connection_id })
    expect(token).toBe('xoxb-installed-token')
    // Stored as a Vault secret, never in the connection row.
    const columns = await sql<{ row: string }>(
      'select row_to_json(c)::text as row from app.channel_connections c where c.id = $1',
      [connection.connection_id],
    )
    expect(columns[0]!.row).not.toContain('xoxb-installed-token')

    // The same completion again (a replayed state) is refused and changes nothing.
    const exchanges = slack.calls('oauth.v2.access').length
    const replay = await completeSlackInstall(`${stack.url}/functions/v1`, {
      accessToken,
      code: handOver!.searchParams.get('code')!,
      state: handOver!.searchParams.get('state')!,
      browserSecret: run.browserSecret,
    })
    expect(replay).toEqual({ status: 400, body: { tenant_id: tenantId, outcome: 'invalid_state' } })
    expect(slack.calls('oauth.v2.access')).toHaveLength(exchanges)

    // The next event from that workspace lands in this tenant.
    const envelope = slackEventEnvelope(
      {
        type: 'app_mention',
        user: 'U0CAROL',
        text: '<@U0FAKEBOT> hello new workspace',
        ts: '1800000000.000100',
        channel: 'C0FAKE',
      },
      { teamId: 'T0FAKETEAM', botUserId: 'U0FAKEBOT' },
    )
    expect((await postSigned('slack-events', JSON.stringify(envelope))).status).toBe(200)
    const rows = await sql<{ tenant_id: string; text: string }>(
      'select tenant_id, text from app.messages where external_id = $1',
      ['C0FAKE:1800000000.000100'],
    )
    expect(rows).toEqual([{ tenant_id: tenantId, text: 'hello new workspace' }])
  })

  test('an authorize link opened in another browser or by another person installs nothing', async () => {
    const functionsUrl = `${stack.url}/functions/v1`
    const victim = await stack.newUser('other-workspace-admin')
    const victimToken = (await victim.client.auth.getSession()).data.session!.access_token
    const attackerBrowser = browserSecret()
    // The attacker starts an install for its own tenant and sends the authorize link around.
    const start = await fetch(fn('slack-oauth', `/start?tenant_id=${tenantId}&browser_hash=${attackerBrowser.hash}`), {
      headers: { authorization: `Bearer ${accessToken}` },
      redirect: 'manual',
    })
    expect(start.status).toBe(302)
    // An admin of another workspace opens it and approves; Slack sends their browser back.
    const approved = await fetch(start.headers.get('location')!, { redirect: 'manual' })
    const callback = await fetch(approved.headers.get('location')!, { redirect: 'manual' })
    expect(callback.status).toBe(302)
    const handOver = new URL(callback.headers.get('location')!)
    const code = handOver.searchParams.get('code')!
    const state = handOver.searchParams.get('state')!
    const exchanges = slack.calls('oauth.v2.access').length
    const connectionsBefore = await sql(`select 1 from app.channel_connections where tenant_id = $1`, [tenantId])

    // Their browser is not signed in to the portal …
    expect(
      (await completeSlackInstall(functionsUrl, { accessToken: null, code, state, browserSecret: '' })).status,
    ).toBe(401)
    // … or is signed in as someone else, with its own cookie …
    expect(
      await completeSlackInstall(functionsUrl, {
        accessToken: victimToken,
        code,
        state,
        browserSecret: browserSecret().secret,
      }),
    ).toMatchObject({ status: 400, body: { outcome: 'invalid_state' } })
    // … and even the starting admin's session cannot finish it without the starting browser's secret.
    expect(
      await completeSlackInstall(functionsUrl, { accessToken, code, state, browserSecret: browserSecret().secret }),
    ).toMatchObject({ status: 400, body: { outcome: 'invalid_state' } })

    // Nothing was exchanged with Slack, nothing stored.
    expect(slack.calls('oauth.v2.access')).toHaveLength(exchanges)
    expect(await sql(`select 1 from app.channel_connections where tenant_id = $1`, [tenantId])).toHaveLength(
      connectionsBefore.length,
    )
    // A state without a browser binding is not issued at all.
    const unbound = await fetch(fn('slack-oauth', `/start?tenant_id=${tenantId}`), {
      headers: { authorization: `Bearer ${accessToken}` },
      redirect: 'manual',
    })
    expect(unbound.status).toBe(400)
  })

  test('the portal asks for the install URL with functions.invoke', async () => {
    const { data, error } = await admin.client.functions.invoke('slack-oauth', {
      body: { action: 'install_url', tenant_id: tenantId, browser_hash: browserSecret().hash },
    })
    expect(error).toBeNull()
    expect(new URL(data.url).searchParams.get('state')).toBeTruthy()
  })

  test('without a session 401; a stranger or operator 403; a forged state 400', async () => {
    const bound = `&browser_hash=${browserSecret().hash}`
    const anonymous = await fetch(fn('slack-oauth', `/start?tenant_id=${tenantId}${bound}`), { redirect: 'manual' })
    expect(anonymous.status).toBe(401)
    const stranger = await stack.newUser('slack-stranger')
    const strangerToken = (await stranger.client.auth.getSession()).data.session!.access_token
    const refused = await fetch(fn('slack-oauth', `/start?tenant_id=${tenantId}${bound}`), {
      headers: { authorization: `Bearer ${strangerToken}` },
      redirect: 'manual',
    })
    expect(refused.status).toBe(403)
    const forged = await fetch(
      fn('slack-oauth', `/callback?code=abc&state=${encodeURIComponent('eyJwIjoic2xhY2tfaW5zdGFsbCJ9.c2ln')}`),
      {
        redirect: 'manual',
      },
    )
    expect(forged.status).toBe(400)
  })

  test('uninstall disables the connection; events are then ignored; a re-install re-activates it', async () => {
    const service = stack.serviceClient()
    const uninstall = slackEventEnvelope({ type: 'app_uninstalled' }, { teamId: 'T0FAKETEAM', botUserId: 'U0FAKEBOT' })
    expect((await postSigned('slack-events', JSON.stringify(uninstall))).status).toBe(200)
    expect((await service.rpc('resolve_slack_connection', { team_id: 'T0FAKETEAM' })).data.status).toBe('disabled')

    const before = await messageCount()
    const envelope = slackEventEnvelope(
      {
        type: 'app_mention',
        user: 'U0CAROL',
        text: '<@U0FAKEBOT> still there?',
        ts: '1800000000.000200',
        channel: 'C0FAKE',
      },
      { teamId: 'T0FAKETEAM', botUserId: 'U0FAKEBOT' },
    )
    expect((await postSigned('slack-events', JSON.stringify(envelope))).status).toBe(200)
    expect(await messageCount()).toBe(before)

    const { completion } = await installSlack(`${stack.url}/functions/v1`, accessToken, tenantId)
    expect(completion?.body.outcome).toBe('installed')
    const after = (await service.rpc('resolve_slack_connection', { team_id: 'T0FAKETEAM' })).data
    expect(after).toMatchObject({ tenant_id: tenantId, status: 'active' })

    // tokens_revoked for the bot disables it too.
    const revoked = slackEventEnvelope(
      { type: 'tokens_revoked', tokens: { oauth: [], bot: ['U0FAKEBOT'] } },
      { teamId: 'T0FAKETEAM', botUserId: 'U0FAKEBOT' },
    )
    expect((await postSigned('slack-events', JSON.stringify(revoked))).status).toBe(200)
    expect((await service.rpc('resolve_slack_connection', { team_id: 'T0FAKETEAM' })).data.status).toBe('disabled')
  })

  test('another tenant cannot take over a workspace that is already connected', async () => {
    const other = await stack.newUser('slack-other-admin')
    const created = await other.client.rpc('create_tenant', { name: 'Other Co' })
    const otherToken = (await other.client.auth.getSession()).data.session!.access_token
    const { completion } = await installSlack(
      `${stack.url}/functions/v1`,
      otherToken,
      (created.data as { id: string }).id,
    )
    expect(completion).toMatchObject({ status: 409, body: { outcome: 'workspace_taken' } })
    const { data } = await stack.serviceClient().rpc('resolve_slack_connection', { team_id: 'T0FAKETEAM' })
    expect(data.tenant_id).toBe(tenantId)
  })
})

describe('slack-interactions', () => {
  function interaction(payload: Record<string, unknown>) {
    return new URLSearchParams({ payload: JSON.stringify(payload) }).toString()
  }
  function click(actionId: string, value: string, threadTs: string, triggerId: string) {
    return {
      type: 'block_actions',
      user: { id: 'U0ALICE', team_id: DEMO_TEAM },
      team: { id: DEMO_TEAM },
      container: { type: 'message', channel_id: 'C0GENERAL', message_ts: '1800000001.000001', thread_ts: threadTs },
      trigger_id: triggerId,
      response_url: 'https://hooks.slack.invalid/x',
      actions: [{ action_id: actionId, block_id: 'b', type: 'button', value, action_ts: '1800000001.1' }],
    }
  }

  test('confirm is ingested as the user answer in the clicked thread, once; "talk to a human" escalates', async () => {
    const parent = mention('please book the room') as ReturnType<typeof mention> & { event: { ts: string } }
    await postSigned('slack-events', JSON.stringify(parent))
    const toolCallId = '99999999-0000-4000-8000-000000000001'
    const body = interaction(click('konstruct_confirm', `confirm:${toolCallId}`, parent.event.ts, 'trigger-1'))
    for (let i = 0; i < 2; i++) {
      const response = await postSigned('slack-interactions', body, {
        contentType: 'application/x-www-form-urlencoded',
      })
      expect(response.status).toBe(200)
    }
    const answers = await sql<{ text: string; thread_key: string }>(
      `select m.text, c.thread_key from app.messages m join app.conversations c on c.id = m.conversation_id
       where m.text like 'confirm:%'`,
    )
    expect(answers).toEqual([{ text: `confirm:${toolCallId}`, thread_key: `C0GENERAL:${parent.event.ts}` }])

    const human = interaction(click('konstruct_talk_to_human', 'human', parent.event.ts, 'trigger-2'))
    expect(
      (await postSigned('slack-interactions', human, { contentType: 'application/x-www-form-urlencoded' })).status,
    ).toBe(200)
    const [conversation] = await sql<{ status: string; escalation_reason: string }>(
      'select status, escalation_reason from app.conversations where connection_id = $1 and thread_key = $2',
      [DEMO_SLACK, `C0GENERAL:${parent.event.ts}`],
    )
    expect(conversation).toMatchObject({ status: 'waiting_for_human' })
  })

  test('an unsigned click is an opaque 401 and changes nothing', async () => {
    const before = await messageCount()
    const body = interaction(
      click('konstruct_confirm', 'confirm:99999999-0000-4000-8000-000000000002', '1.1', 'trigger-3'),
    )
    const response = await postSigned('slack-interactions', body, {
      secret: 'forged',
      contentType: 'application/x-www-form-urlencoded',
    })
    expect(response.status).toBe(401)
    expect(await messageCount()).toBe(before)
  })
})

// Last: the function answers before reading the whole upload, which resets that connection.
test('slack-events refuses a body over 1 MiB with 413', async () => {
  const huge = JSON.stringify({ type: 'event_callback', padding: 'x'.repeat(1024 * 1024) })
  expect((await postSigned('slack-events', huge)).status).toBe(413)
})
