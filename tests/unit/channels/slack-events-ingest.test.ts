// slack-events' answer to Slack when the group commit (api.ingest_slack_messages) fails: a
// message the database refused for itself is acknowledged and reported (Slack would
// redeliver it forever), while a call that failed as a whole is a 503 for every message in
// it, whatever its code, so Slack delivers each again and nothing is dropped unstored.
import { describe, expect, test } from 'vitest'
import { type Api, ApiError } from '../../../shared/api/client.ts'
import { createSlackEventsHandler } from '../../../shared/channels/handlers/slack-events.ts'
import { signSlackRequest, slackEventEnvelope } from '../../fakes/fake-slack.ts'

const SECRET = 'unit-test-signing-secret'

function mentionRequest(text: string): Request {
  const ts = `${Math.floor(Date.now() / 1000)}.${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`
  const body = JSON.stringify(
    slackEventEnvelope(
      { type: 'app_mention', user: 'U0ALICE', text: `<@U0BOT> ${text}`, ts, event_ts: ts, channel: 'C0GENERAL' },
      { teamId: 'T0TEAM', botUserId: 'U0BOT' },
    ),
  )
  return new Request('http://localhost/functions/v1/slack-events', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signSlackRequest(SECRET, body) },
    body,
  })
}

/** An api whose group call answers with `answer`; every call is recorded. */
function fakeApi(answer: (events: unknown[]) => unknown) {
  const calls: Array<{ fn: string; args: Record<string, unknown> }> = []
  const rpc = (async (fn: string, args: Record<string, unknown> = {}) => {
    calls.push({ fn, args })
    if (fn === 'ingest_slack_messages') {
      const answered = answer(args['events'] as unknown[])
      if (answered instanceof Error) throw answered
      return answered
    }
    if (fn === 'resolve_slack_connection') {
      return { connection_id: 'c0', tenant_id: 't0', status: 'active', slack_bot_user_id: 'U0BOT' }
    }
    return null
  }) as Api
  return { rpc, calls }
}

const quiet = () => {}

describe('slack-events and its group commit', () => {
  test('a call that fails as a whole, even with a data-exception code, answers 503 to each message', async () => {
    const api = fakeApi(() => new ApiError('ingest_slack_messages', 400, '22023', 'at most 12 events in one call'))
    const handle = createSlackEventsHandler({ signingSecret: SECRET, rpc: api.rpc, log: quiet })
    const answers = await Promise.all([handle(mentionRequest('one')), handle(mentionRequest('two'))])
    expect(answers.map((r) => r.status)).toEqual([503, 503])
    expect(api.calls.filter((c) => c.fn === 'record_audit')).toHaveLength(0)
  })

  test('a message the database refused for itself is acknowledged and reported; its neighbour is stored', async () => {
    const api = fakeApi((events) =>
      events.map((event) =>
        String((event as { text: string }).text).includes('bad')
          ? { ok: false, code: '22001', message: 'value too long' }
          : {
              ok: true,
              result: {
                outcome: 'ingested',
                connection_id: 'c0',
                message_id: 'm1',
                conversation_id: 'v1',
                duplicate: false,
                enqueued: true,
              },
            },
      ),
    )
    const handle = createSlackEventsHandler({ signingSecret: SECRET, rpc: api.rpc, log: quiet })
    const answers = await Promise.all([handle(mentionRequest('good')), handle(mentionRequest('bad'))])
    expect(answers.map((r) => r.status)).toEqual([200, 200])
    const reported = api.calls.filter((c) => c.fn === 'record_audit')
    expect(reported).toHaveLength(1)
  })
})
