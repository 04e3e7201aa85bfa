-- The portal's test chat makes test conversations (issue 15, item 8): they are shown as
-- "Test" in the inbox and never count toward the plan (app.answer_inbound skips is_test).
--
-- The test chat talks to the web-chat function as an anonymous visitor of its own, like the
-- widget. Whether a visitor is a test is proven, never claimed: the web-chat function marks
-- a visitor only when its /session request carries, beside the visitor's own verified
-- session, a verified session of a member of the widget's tenant (x-member-authorization),
-- and calls api.begin_test_chat with both ids. That function is the service role's only: a
-- member calling the api directly cannot name somebody else's visitor, and a visitor
-- without a member's session cannot mark itself, so nobody gets free messages.
--
-- A mark holds for the conversations ingest creates for that visitor on that widget after
-- it (api.ingest_message sets is_test when it inserts the conversation); an existing
-- conversation is never turned into a test one.

create table app.test_chat_visitors (
  connection_id uuid not null references app.channel_connections (id) on delete cascade,
  -- The anonymous visitor's user id, as ingest sees it (external_user_id and thread_key).
  visitor_id text not null check (length(visitor_id) between 1 and 200),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  started_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  primary key (connection_id, visitor_id)
);
create index test_chat_visitors_tenant_idx on app.test_chat_visitors (tenant_id);
create index test_chat_visitors_started_by_idx on app.test_chat_visitors (started_by);
comment on table app.test_chat_visitors is 'Web chat visitors that are a member''s test chat (api.begin_test_chat): the conversations ingest creates for them on that connection are tests (is_test). service_role only.';

alter table app.test_chat_visitors enable row level security;
alter table app.test_chat_visitors force row level security;
grant select, insert on app.test_chat_visitors to service_role;

create function api.begin_test_chat(connection_id uuid, visitor_id text, member_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn app.channel_connections;
begin
  select * into conn from app.channel_connections c where c.id = begin_test_chat.connection_id;
  if not found or conn.kind <> 'web_chat' then
    raise exception 'web chat connection not found' using errcode = 'P0002';
  end if;
  if coalesce(btrim(begin_test_chat.visitor_id), '') = '' then
    raise exception 'a visitor is required' using errcode = '22023';
  end if;
  -- Who asks: a member (any role) of the widget's own tenant.
  if begin_test_chat.member_id is null or not exists (
      select 1 from app.memberships m where m.tenant_id = conn.tenant_id and m.user_id = begin_test_chat.member_id) then
    raise exception 'permission denied: not a member of this widget''s workspace' using errcode = '42501';
  end if;
  insert into app.test_chat_visitors (connection_id, visitor_id, tenant_id, started_by)
  values (conn.id, begin_test_chat.visitor_id, conn.tenant_id, begin_test_chat.member_id)
  on conflict on constraint test_chat_visitors_pkey do nothing;
  return jsonb_build_object('test', true, 'tenant_id', conn.tenant_id);
end
$$;
comment on function api.begin_test_chat(uuid, text, uuid) is 'Marks a web chat visitor as a member''s test chat on this connection, for the web-chat function once it verified both the visitor''s and the member''s sessions: the conversations ingest creates for it afterwards are tests (is_test: shown as Test, never counted toward the plan). 42501 unless member_id belongs to the connection''s tenant. Returns {test, tenant_id}. service_role.';

revoke all on function api.begin_test_chat(uuid, text, uuid) from public, anon, authenticated;
grant execute on function api.begin_test_chat(uuid, text, uuid) to service_role;
