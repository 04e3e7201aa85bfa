-- The widget's history read planned for the conversation it reads.
--
-- api.web_chat_history was a SQL function with a set clause, which PostgreSQL plans once per
-- call with the conversation unknown. In the pgTAP suite, after other files had filled and
-- rolled back volume, that plan read up to 289 message rows for a page of 50
-- (hot_path_reads). It is now PL/pgSQL: the conversation is found by its unique
-- (connection, thread) key, and its page of messages is read through EXECUTE … USING, planned
-- with that conversation's id, so it walks messages_conversation_seq_idx and stops at the
-- page. Same arguments, same answer.

create or replace function api.web_chat_history(connection_id uuid, visitor_id text, after_seq bigint default null,
  page_size integer default 50)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  conversation record;
  page jsonb;
begin
  select c.id, c.status into conversation
  from app.conversations c
  join app.channel_connections cc on cc.id = c.connection_id and cc.kind = 'web_chat'
  where c.connection_id = web_chat_history.connection_id and c.thread_key = web_chat_history.visitor_id;
  if not found then
    return null;
  end if;
  execute $q$
    select coalesce(jsonb_agg(jsonb_build_object('id', m.id, 'seq', m.seq, 'direction', m.direction,
        'author_kind', m.author_kind, 'text', m.text, 'created_at', m.created_at) order by m.seq), '[]'::jsonb)
    from (
      select m.id, m.seq, m.direction, m.author_kind, m.text, m.created_at from app.messages m
      where m.conversation_id = $1 and m.seq > $2 and m.delivery_status <> 'undeliverable'
      order by m.seq desc
      limit $3
    ) m
  $q$
  into page
  using conversation.id, coalesce(web_chat_history.after_seq, 0),
    least(greatest(coalesce(web_chat_history.page_size, 50), 1), 200);
  return jsonb_build_object('conversation_id', conversation.id, 'status', conversation.status, 'messages', page);
end
$$;
