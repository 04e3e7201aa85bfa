-- The widget's history read costs its own conversation's messages, nothing more.
--
-- In the full pgTAP suite, api.web_chat_history (a SQL function) read 284 entries of
-- messages_seq_key, the order of every tenant's messages, for a conversation of five
-- messages (hot_path_reads, after other files had filled and rolled back volume). Not the
-- page: planning `seq > 0` asks the index for the column's actual lowest value, and that
-- probe walks the dead entries other transactions left at that end of the index. Now the
-- seq condition exists only when the widget asks for messages after one it has: the
-- function is PL/pgSQL, finds the conversation by its unique (connection, thread) key and
-- reads the page through EXECUTE … USING, planned with its values, where `0 = 0 or …`
-- folds away. The page is taken in the order of messages_conversation_seq_idx. Same
-- arguments, same answer.

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
      where m.conversation_id = $1 and ($2 = 0 or m.seq > $2) and m.delivery_status <> 'undeliverable'
      -- In the order of messages_conversation_seq_idx (the conversation is fixed, so this is
      -- newest first): no plan can walk messages_seq_key, every tenant's messages, instead.
      order by m.conversation_id, m.seq desc
      limit $3
    ) m
  $q$
  into page
  using conversation.id, coalesce(web_chat_history.after_seq, 0),
    least(greatest(coalesce(web_chat_history.page_size, 50), 1), 200);
  return jsonb_build_object('conversation_id', conversation.id, 'status', conversation.status, 'messages', page);
end
$$;
