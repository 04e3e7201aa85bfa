-- One call per Slack message instead of two or three.
--
-- slack-events used to resolve the workspace (api.resolve_slack_connection), for a thread
-- reply without a mention ask whether the agent already speaks in that thread
-- (api.find_conversation), and then store the message (api.ingest_message): each a request
-- through the Data API and a transaction of its own, before Slack gets its ack. On a busy
-- workspace the ack is what Slack times (3 s, then retries), so api.ingest_slack_message
-- does the same steps in one call, with the same rules:
--   * the team id routes to its connection or nowhere (unknown_team: nothing stored);
--   * when the connection's stored bot user id differs from the one the event was parsed
--     with, nothing is stored and the connection is returned (other_bot): the function
--     parses the event again with the stored id (which may make it the bot's own message,
--     or no mention) and stores it the long way, as before;
--   * a disabled connection stores nothing (disabled);
--   * a thread reply that needs a known thread is dropped unless the conversation exists
--     (not_for_agent);
--   * else api.ingest_message itself, unchanged (same idempotency, dedupe, counting and
--     reply job), its answer plus outcome 'ingested' and the connection and tenant.
-- No other tenant can be reached: the connection comes from the team id alone, which is
-- unique across the platform (app.channel_connections.slack_team_id).

create function api.ingest_slack_message(
  team_id text,
  bot_user_id text,
  known_thread_only boolean,
  external_id text,
  thread_key text,
  external_user_id text,
  text text default null,
  channel_context jsonb default '{}'::jsonb,
  metadata jsonb default '{}'::jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn record;
  stored jsonb;
begin
  select c.id, c.tenant_id, c.status, c.slack_bot_user_id into conn
  from app.channel_connections c
  where c.slack_team_id = ingest_slack_message.team_id and c.kind = 'slack';
  if not found then
    return jsonb_build_object('outcome', 'unknown_team');
  end if;
  if conn.slack_bot_user_id is not null and conn.slack_bot_user_id is distinct from ingest_slack_message.bot_user_id then
    return jsonb_build_object('outcome', 'other_bot', 'connection', app.connection_json(conn.id));
  end if;
  if conn.status <> 'active' then
    return jsonb_build_object('outcome', 'disabled', 'connection_id', conn.id, 'tenant_id', conn.tenant_id);
  end if;
  if ingest_slack_message.known_thread_only and not exists (
    select 1 from app.conversations v
    where v.connection_id = conn.id and v.thread_key = ingest_slack_message.thread_key
  ) then
    return jsonb_build_object('outcome', 'not_for_agent', 'connection_id', conn.id, 'tenant_id', conn.tenant_id);
  end if;
  stored := api.ingest_message(conn.id, ingest_slack_message.external_id, ingest_slack_message.thread_key,
    ingest_slack_message.external_user_id, ingest_slack_message.text, null, '[]'::jsonb,
    ingest_slack_message.channel_context, ingest_slack_message.metadata);
  return stored || jsonb_build_object('outcome', 'ingested', 'connection_id', conn.id);
end
$$;
comment on function api.ingest_slack_message(text, text, boolean, text, text, text, text, jsonb, jsonb) is 'slack-events in one call: routes a Slack message by team id to its connection and stores it with api.ingest_message. outcome: unknown_team (nothing stored); other_bot (the connection''s stored bot user id differs from bot_user_id: nothing stored, the connection returned so the caller parses the event again with it); disabled (nothing stored); not_for_agent (known_thread_only and the agent has no conversation in thread_key: nothing stored); ingested (api.ingest_message''s answer plus connection_id). service_role.';

revoke all on function api.ingest_slack_message(text, text, boolean, text, text, text, text, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function api.ingest_slack_message(text, text, boolean, text, text, text, text, jsonb, jsonb)
  to service_role;
