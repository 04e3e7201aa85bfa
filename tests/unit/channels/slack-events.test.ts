import { describe, expect, it } from 'vitest'
import { parseSlackEvent, parseSlackEventBody } from '../../../shared/channels/slack/events.ts'
import { parseSlackInteractionBody } from '../../../shared/channels/slack/interactions.ts'
import { slackEventEnvelope } from '../../fakes/fake-slack.ts'

const BOT = 'U0FAKEBOT'
const envelope = (event: Record<string, unknown>, eventId = 'Ev01') =>
  slackEventEnvelope(event, { botUserId: BOT, eventId, teamId: 'T01' })

function parsed(event: Record<string, unknown>) {
  const result = parseSlackEvent(envelope(event))
  if (!result.ok) throw new Error(`parse failed: ${result.error}`)
  return result.event
}

describe('parseSlackEvent', () => {
  it('answers url_verification with the challenge', () => {
    const result = parseSlackEventBody(
      JSON.stringify({
        token: 'x',
        challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
        type: 'url_verification',
      }),
    )
    expect(result).toEqual({
      ok: true,
      event: { type: 'url_verification', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' },
    })
  })

  it('normalizes an app_mention, removing the mention of our bot and starting a thread at its ts', () => {
    const event = parsed({
      type: 'app_mention',
      user: 'U1',
      text: '<@U0FAKEBOT> what is our refund policy?',
      ts: '1700000000.000100',
      channel: 'C1',
      event_ts: '1700000000.000100',
    })
    expect(event).toMatchObject({
      type: 'message',
      message: {
        kind: 'app_mention',
        teamId: 'T01',
        channelId: 'C1',
        threadTs: '1700000000.000100',
        ts: '1700000000.000100',
        userId: 'U1',
        text: 'what is our refund policy?',
        eventId: 'Ev01',
        botUserId: BOT,
      },
    })
  })

  it('keeps the thread of a mention made inside a thread', () => {
    const event = parsed({
      type: 'app_mention',
      user: 'U1',
      text: 'hey <@U0FAKEBOT|konstruct> again',
      ts: '2.0',
      thread_ts: '1.0',
      channel: 'C1',
    })
    expect(event.type === 'message' && event.message).toMatchObject({
      threadTs: '1.0',
      ts: '2.0',
      inThread: true,
      text: 'hey again',
    })
  })

  it('normalizes a direct message (message.im)', () => {
    const event = parsed({
      type: 'message',
      channel: 'D1',
      channel_type: 'im',
      user: 'U1',
      text: 'hi there',
      ts: '5.0',
    })
    expect(event.type === 'message' && event.message).toMatchObject({
      kind: 'direct_message',
      channelId: 'D1',
      threadTs: '5.0',
      inThread: false,
    })
  })

  it('passes a reply in a channel thread on as a thread_reply candidate', () => {
    const event = parsed({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U1',
      text: 'and shipping?',
      ts: '9.0',
      thread_ts: '8.0',
    })
    expect(event.type === 'message' && event.message).toMatchObject({
      kind: 'thread_reply',
      threadTs: '8.0',
      ts: '9.0',
    })
  })

  it('accepts file shares and thread broadcasts from people', () => {
    expect(
      parsed({
        type: 'message',
        subtype: 'file_share',
        channel: 'D1',
        channel_type: 'im',
        user: 'U1',
        text: 'see file',
        ts: '1.0',
      }).type,
    ).toBe('message')
    expect(
      parsed({
        type: 'message',
        subtype: 'thread_broadcast',
        channel: 'C1',
        channel_type: 'channel',
        user: 'U1',
        text: 'x',
        ts: '2.0',
        thread_ts: '1.0',
      }).type,
    ).toBe('message')
  })

  it.each([
    [
      'a bot message (bot_id)',
      { type: 'message', channel: 'D1', channel_type: 'im', bot_id: 'B9', user: 'U9', text: 'beep', ts: '1.0' },
      'bot_message',
    ],
    [
      'a bot_message subtype',
      { type: 'message', subtype: 'bot_message', channel: 'C1', text: 'beep', ts: '1.0' },
      'bot_message',
    ],
    [
      'our own message',
      { type: 'message', channel: 'D1', channel_type: 'im', user: BOT, text: 'my reply', ts: '1.0' },
      'own_message',
    ],
    ['an edit', { type: 'message', subtype: 'message_changed', channel: 'C1', message: {}, ts: '1.0' }, 'edited'],
    [
      'an edited mention',
      {
        type: 'app_mention',
        user: 'U1',
        text: '<@U0FAKEBOT> hi',
        ts: '1.0',
        channel: 'C1',
        edited: { user: 'U1', ts: '2.0' },
      },
      'edited',
    ],
    ['a deletion', { type: 'message', subtype: 'message_deleted', channel: 'C1', ts: '1.0' }, 'deleted'],
    [
      'a channel join',
      { type: 'message', subtype: 'channel_join', channel: 'C1', user: 'U1', text: '<@U1> has joined', ts: '1.0' },
      'membership_change',
    ],
    [
      'another subtype',
      { type: 'message', subtype: 'pinned_item', channel: 'C1', user: 'U1', ts: '1.0' },
      'unsupported_subtype',
    ],
    [
      'a top-level channel message',
      { type: 'message', channel: 'C1', channel_type: 'channel', user: 'U1', text: 'lunch?', ts: '1.0' },
      'channel_message_not_for_agent',
    ],
    [
      'a channel message that mentions the bot',
      {
        type: 'message',
        channel: 'C1',
        channel_type: 'channel',
        user: 'U1',
        text: '<@U0FAKEBOT> hi',
        ts: '2.0',
        thread_ts: '1.0',
      },
      'mention_delivered_as_app_mention',
    ],
    ['a reaction event', { type: 'reaction_added', user: 'U1', reaction: 'thumbsup' }, 'unsupported_event'],
  ])('ignores %s', (_name, event, reason) => {
    expect(parsed(event)).toMatchObject({ type: 'ignored', reason, teamId: 'T01', eventId: 'Ev01' })
  })

  it('recognises uninstalls and token revocations', () => {
    expect(parsed({ type: 'app_uninstalled' })).toEqual({
      type: 'app_uninstalled',
      teamId: 'T01',
      enterpriseId: null,
      eventId: 'Ev01',
    })
    expect(parsed({ type: 'tokens_revoked', tokens: { oauth: ['U5'], bot: [BOT] } })).toEqual({
      type: 'tokens_revoked',
      teamId: 'T01',
      enterpriseId: null,
      eventId: 'Ev01',
      botUserIds: [BOT],
      oauthUserIds: ['U5'],
    })
  })

  it('uses a known bot user id when the envelope has no authorizations', () => {
    const payload = {
      ...envelope({ type: 'message', channel: 'D1', channel_type: 'im', user: 'UBOT2', text: 'x', ts: '1.0' }),
      authorizations: [],
    }
    expect(parseSlackEvent(payload, { botUserId: 'UBOT2' })).toMatchObject({
      ok: true,
      event: { type: 'ignored', reason: 'own_message' },
    })
  })

  it('rejects malformed bodies with a clear error instead of throwing', () => {
    expect(parseSlackEventBody('{not json')).toEqual({ ok: false, error: 'invalid_json' })
    expect(parseSlackEventBody('[]')).toEqual({ ok: false, error: 'invalid_payload' })
    expect(parseSlackEventBody('null')).toEqual({ ok: false, error: 'invalid_payload' })
    expect(parseSlackEventBody(JSON.stringify({ type: 'url_verification' }))).toEqual({
      ok: false,
      error: 'invalid_payload',
    })
    expect(parseSlackEventBody(JSON.stringify({ type: 'event_callback', team_id: 'T1', event: {} }))).toEqual({
      ok: false,
      error: 'invalid_payload',
    })
    expect(parseSlackEventBody(JSON.stringify({ type: 'something_new' }))).toEqual({
      ok: false,
      error: 'invalid_payload',
    })
    const noChannel = envelope({ type: 'message', channel_type: 'im', user: 'U1', text: 'x', ts: '1.0' })
    expect(parseSlackEvent(noChannel)).toEqual({ ok: false, error: 'invalid_payload' })
  })

  it('reports app_rate_limited as ignored', () => {
    const result = parseSlackEvent({
      token: 't',
      type: 'app_rate_limited',
      team_id: 'T1',
      minute_rate_limited: 1518467820,
      api_app_id: 'A1',
    })
    expect(result).toMatchObject({ ok: true, event: { type: 'ignored', reason: 'app_rate_limited', teamId: 'T1' } })
  })
})

describe('parseSlackInteractionBody', () => {
  const blockActions = {
    type: 'block_actions',
    user: { id: 'U1', username: 'ann', team_id: 'T01' },
    api_app_id: 'A1',
    token: 'deprecated',
    container: { type: 'message', message_ts: '10.0', channel_id: 'C1', is_ephemeral: false, thread_ts: '9.0' },
    trigger_id: '123.456.abc',
    team: { id: 'T01', domain: 'acme' },
    channel: { id: 'C1', name: 'support' },
    message: { type: 'message', ts: '10.0', thread_ts: '9.0', text: 'Confirm?' },
    response_url: 'https://hooks.slack.com/actions/T01/1/abc',
    actions: [
      {
        action_id: 'konstruct_confirm',
        block_id: 'b1',
        text: { type: 'plain_text', text: 'Confirm' },
        value: 'pending-42',
        type: 'button',
        action_ts: '11.0',
      },
    ],
  }
  const form = (payload: unknown) => new URLSearchParams({ payload: JSON.stringify(payload) }).toString()

  it('normalizes a button click', () => {
    expect(parseSlackInteractionBody(form(blockActions))).toEqual({
      ok: true,
      interaction: {
        type: 'block_actions',
        teamId: 'T01',
        userId: 'U1',
        channelId: 'C1',
        messageTs: '10.0',
        threadTs: '9.0',
        responseUrl: 'https://hooks.slack.com/actions/T01/1/abc',
        triggerId: '123.456.abc',
        actions: [{ actionId: 'konstruct_confirm', blockId: 'b1', value: 'pending-42', type: 'button' }],
      },
    })
  })

  it('ignores other interaction types and rejects bad bodies', () => {
    expect(parseSlackInteractionBody(form({ type: 'view_submission', user: { id: 'U1' } }))).toEqual({
      ok: true,
      interaction: { type: 'ignored', interactionType: 'view_submission' },
    })
    expect(parseSlackInteractionBody('foo=bar')).toEqual({ ok: false, error: 'missing_payload' })
    expect(parseSlackInteractionBody('payload=%7Bnope')).toEqual({ ok: false, error: 'invalid_json' })
    expect(parseSlackInteractionBody(form({ ...blockActions, actions: [] }))).toEqual({
      ok: false,
      error: 'invalid_payload',
    })
    expect(parseSlackInteractionBody(form({ ...blockActions, user: {} }))).toEqual({
      ok: false,
      error: 'invalid_payload',
    })
  })
})
