-- The inbox list planned for the filters each call sets.
--
-- api.list_conversations takes thirteen optional filters. As a SQL function, PostgreSQL 15
-- to 17 plan it once per call with every filter an unknown parameter: a generic plan,
-- which on a table with dead rows and fresh statistics (the hosted harness's second pass)
-- chose to read every conversation of the tenant (20,000 rows) for a first page of 50.
-- app.inbox_page runs it through EXECUTE … USING, so each call is planned with its values:
-- filters left null fold away, and the first page walks conversations_tenant_activity_idx
-- and stops at the page. (PL/pgSQL, whose parameters may not share the names of the result
-- columns; api.list_conversations keeps its names for the api and calls it.)

create function app.inbox_page(
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
      coalesce(c.last_message_at, c.created_at), c.created_at,
      -- Unread: a contact message past the caller's read mark (one comparison, no counting).
      coalesce(c.last_inbound_seq, 0) > coalesce((select r.last_read_seq from app.conversation_reads r
        where r.conversation_id = c.id and r.user_id = (select auth.uid())), 0),
      cc.agent_id, c.model_failure, c.is_test
    from app.conversations c
    join app.channel_connections cc on cc.id = c.connection_id
    left join app.contacts ct on ct.id = c.contact_id
    left join app.agents a on a.id = c.agent_id
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
  $q$
  using inbox_page.for_tenant, inbox_page.with_status, inbox_page.on_channel, inbox_page.by_agent,
    inbox_page.only_mine, inbox_page.matching, inbox_page.before_activity, inbox_page.before_conversation,
    inbox_page.page_rows, inbox_page.inbox_view, inbox_page.by_assignee, inbox_page.active_from,
    inbox_page.active_to;
end
$$;
comment on function app.inbox_page(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) is 'The body of api.list_conversations (same arguments in the same order), planned for each call''s values.';

create or replace function api.list_conversations(
  tenant_id uuid,
  status text default null,
  channel text default null,
  agent_id uuid default null,
  assigned_to_me boolean default false,
  search text default null,
  before_activity_at timestamptz default null,
  before_id uuid default null,
  page_size integer default 50,
  view text default null,
  assignee_id uuid default null,
  from_time timestamptz default null,
  to_time timestamptz default null
)
returns table (id uuid, connection_id uuid, connection_name text, channel text, thread_key text, contact_id uuid,
  contact_name text, agent_id uuid, agent_name text, status text, assigned_member_id uuid, escalation_reason text,
  last_message_at timestamptz, last_message_preview text, activity_at timestamptz, created_at timestamptz,
  unread boolean, channel_agent_id uuid, model_failure jsonb, is_test boolean)
language sql
set search_path = ''
as $$
  select * from app.inbox_page(list_conversations.tenant_id, list_conversations.status,
    list_conversations.channel, list_conversations.agent_id, list_conversations.assigned_to_me,
    list_conversations.search, list_conversations.before_activity_at, list_conversations.before_id,
    list_conversations.page_size, list_conversations.view, list_conversations.assignee_id,
    list_conversations.from_time, list_conversations.to_time)
$$;

-- Members call it through api.list_conversations (security invoker: as themselves, under RLS).
revoke all on function app.inbox_page(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid,
  timestamptz, timestamptz) from public, anon;
grant execute on function app.inbox_page(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid,
  timestamptz, timestamptz) to authenticated, service_role;
