-- The inbox page is cut before names are joined.
--
-- app.inbox_page joined each conversation to its channel, contact and agent and then took
-- the page. When the planner sorts instead of walking conversations_tenant_activity_idx
-- (statistics that lag behind a burst of new conversations), that joined every conversation
-- of the tenant: 66 ms for 7,000 on PostgreSQL 15 (272 ms with the per-row policy check that
-- 20261206097100 removed). The page of conversations is now taken first, from that table
-- alone, and only its rows are joined: the walk stops at the page as before, and the sort,
-- when chosen, reads one table. Same arguments, same rows, same order.

create or replace function app.inbox_page(
  for_tenant uuid,
  with_status text,
  on_channel text,
  by_agent uuid,
  only_mine boolean,
  matching text,
  before_activity timestamptz,
  before_conversation uuid,
  page_rows integer,
  inbox_view text,
  by_assignee uuid,
  active_from timestamptz,
  active_to timestamptz
)
returns table (id uuid, connection_id uuid, connection_name text, channel text, thread_key text, contact_id uuid,
  contact_name text, agent_id uuid, agent_name text, status text, assigned_member_id uuid, escalation_reason text,
  last_message_at timestamptz, last_message_preview text, activity_at timestamptz, created_at timestamptz,
  unread boolean, channel_agent_id uuid, model_failure jsonb, is_test boolean)
language plpgsql
set search_path = ''
as $$
begin
  perform app.require_read(inbox_page.for_tenant, 'conversations');
  perform app.require_inbox_view(inbox_page.inbox_view);
  return query execute $q$
    select c.id, c.connection_id, cc.name, c.channel, c.thread_key, c.contact_id, ct.display_name, c.agent_id, a.name,
      c.status, c.assigned_member_id, c.escalation_reason, c.last_message_at, c.last_message_preview,
      c.activity_at, c.created_at,
      -- Unread: a contact message past the caller's read mark (one comparison, no counting).
      coalesce(c.last_inbound_seq, 0) > coalesce((select r.last_read_seq from app.conversation_reads r
        where r.conversation_id = c.id and r.user_id = (select auth.uid())), 0),
      cc.agent_id, c.model_failure, c.is_test
    from (
      -- The page first, from the conversations alone; names are joined to its rows only.
      select c.*, coalesce(c.last_message_at, c.created_at) as activity_at
      from app.conversations c
      where c.tenant_id = $1
        and ($2 is null or c.status = $2)
        and ($3 is null or c.channel = $3)
        and ($4 is null or c.agent_id = $4)
        and ($11 is null or c.assigned_member_id = $11)
        and (not coalesce($5, false) or c.assigned_member_id = (select auth.uid()))
        and ($10 is null
          or $10 = 'all'
          or ($10 = 'mine' and c.status <> 'closed' and c.assigned_member_id = (select auth.uid()))
          or ($10 = 'unassigned' and c.status <> 'closed' and c.assigned_member_id is null)
          or ($10 = 'waiting' and c.status = 'waiting_for_human')
          or ($10 = 'closed' and c.status = 'closed'))
        and ($12 is null or coalesce(c.last_message_at, c.created_at) >= $12)
        and ($13 is null or coalesce(c.last_message_at, c.created_at) < $13)
        and ($6 is null
          or exists (select 1 from app.contacts sc where sc.id = c.contact_id
                     and sc.display_name ilike '%' || $6 || '%')
          or exists (select 1 from app.messages m
            where m.conversation_id = c.id
              and m.search @@ websearch_to_tsquery('simple'::regconfig, $6)))
        and ($7 is null
          or (coalesce(c.last_message_at, c.created_at), c.id)
            < ($7, coalesce($8, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
      order by coalesce(c.last_message_at, c.created_at) desc, c.id desc
      limit least(greatest(coalesce($9, 50), 1), 200)
    ) c
    join app.channel_connections cc on cc.id = c.connection_id
    left join app.contacts ct on ct.id = c.contact_id
    left join app.agents a on a.id = c.agent_id
    order by c.activity_at desc, c.id desc
  $q$
  using inbox_page.for_tenant, inbox_page.with_status, inbox_page.on_channel, inbox_page.by_agent,
    inbox_page.only_mine, inbox_page.matching, inbox_page.before_activity, inbox_page.before_conversation,
    inbox_page.page_rows, inbox_page.inbox_view, inbox_page.by_assignee, inbox_page.active_from,
    inbox_page.active_to;
end
$$;
