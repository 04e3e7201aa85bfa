-- The web chat widget learns who handles the visitor's conversation, so it never shows
-- "The agent is typing…" while a team member has it (status human) or it waits for one
-- (waiting_for_human):
--
-- * api.web_chat_status: the status of one visitor's conversation (the web-chat function
--   puts it in the session response; the history and the POST response carry it already).
-- * A status change is broadcast as status_changed, payload {status} and nothing else, on
--   the visitor's private topic webchat:<visitor_id> (the same RLS policy as the messages:
--   only that visitor's token may receive it).

create function api.web_chat_status(connection_id uuid, visitor_id text)
returns text
language sql
stable
set search_path = ''
as $$
  select c.status
  from app.conversations c
  join app.channel_connections cc on cc.id = c.connection_id and cc.kind = 'web_chat'
  where c.connection_id = web_chat_status.connection_id and c.thread_key = web_chat_status.visitor_id
$$;
comment on function api.web_chat_status(uuid, text) is 'The status (open, waiting_for_human, human, closed) of one web chat visitor''s conversation; null when the visitor has not written yet. service_role.';

create function app.broadcast_web_chat_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.channel <> 'web_chat' or new.status is not distinct from old.status then
    return null;
  end if;
  -- Only the status: never the assignee, escalation reason or any id.
  perform realtime.send(jsonb_build_object('status', new.status), 'status_changed', 'webchat:' || new.thread_key, true);
  return null;
end
$$;
comment on function app.broadcast_web_chat_status() is 'After-update trigger on conversations: broadcasts status_changed {status} of a web chat conversation to the private topic webchat:<visitor_id> of its visitor.';
create trigger conversations_broadcast_web_chat_status after update of status on app.conversations
  for each row execute function app.broadcast_web_chat_status();

revoke all on function api.web_chat_status(uuid, text) from public, anon, authenticated;
revoke all on function app.broadcast_web_chat_status() from public, anon, authenticated;
grant execute on function api.web_chat_status(uuid, text) to service_role;
