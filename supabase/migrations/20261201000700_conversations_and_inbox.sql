-- Conversations and the inbox: contacts, conversations, messages, tool calls, read
-- marks, assignment, internal notes and canned replies.
--
-- A contact is one person per tenant; contact_identities map a channel's user id to that
-- person, so memory can follow them across channels. A conversation is one thread on one
-- connection (thread_key: Slack channel+thread, WhatsApp number, web chat visitor).
-- Messages are idempotent by (connection, external id). Composite foreign keys on
-- (tenant_id, id) keep every child in its parent's tenant. Changes are broadcast to
-- tenant:<tenant_id> as message_created / message_updated / conversation_changed /
-- note_created.
--
-- The inbox:
--   * the list (api.list_conversations, through app.inbox_page) takes thirteen optional
--     filters and runs them through EXECUTE … USING, so each call is planned with its
--     values: filters left null fold away, and the first page walks
--     conversations_tenant_activity_idx and stops at the page;
--   * assignment: api.assign_conversation gives a conversation to an owner or admin (or to
--     nobody); a hand-off (status becoming waiting_for_human) with nobody assigned is given
--     round robin to the available owners and admins whose last assignment is oldest
--     (app.memberships.last_assigned_at): one indexed row, whatever the history;
--   * read marks: api.mark_conversation_read moves the caller's mark to the newest contact
--     message (conversations.last_inbound_seq);
--   * internal notes: app.conversation_notes, which no channel, delivery or agent prompt
--     reads, so a customer never sees one;
--   * canned replies: app.canned_replies, a /shortcut and its text per tenant.
-- Members take over, release, close and answer conversations; the channels' "talk to a
-- human" buttons escalate the conversation of the clicked thread.

create table app.contacts (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  display_name text,
  email text,
  phone text,
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id)
);
comment on table app.contacts is 'A person who talks to a tenant''s agents, across channels.';
alter table app.contacts enable row level security;
alter table app.contacts force row level security;
create policy "members can read their tenant's contacts" on app.contacts
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can update contacts" on app.contacts
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
grant select, update (display_name, email, phone, metadata) on app.contacts to authenticated;
grant select, insert, update, delete on app.contacts to service_role;
create trigger contacts_touch_updated_at before update on app.contacts
  for each row execute function app.touch_updated_at();

create table app.contact_identities (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  contact_id uuid not null,
  channel text not null check (channel in ('slack', 'whatsapp', 'web_chat')),
  external_user_id text not null check (length(external_user_id) between 1 and 255),
  display_name text,
  created_at timestamptz not null default now(),
  unique (tenant_id, channel, external_user_id),
  foreign key (tenant_id, contact_id) references app.contacts (tenant_id, id) on delete cascade
);
create index contact_identities_contact_id_idx on app.contact_identities (contact_id);
comment on table app.contact_identities is 'A contact''s user id on one channel (Slack user id, WhatsApp wa_id, web chat visitor id); unique per tenant and channel.';
alter table app.contact_identities enable row level security;
alter table app.contact_identities force row level security;
create policy "members can read their tenant's contact identities" on app.contact_identities
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.contact_identities to authenticated;
grant select, insert, update, delete on app.contact_identities to service_role;

create table app.conversations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  connection_id uuid not null,
  channel text not null check (channel in ('slack', 'whatsapp', 'web_chat')),
  thread_key text not null check (length(thread_key) between 1 and 500),
  contact_id uuid,
  agent_id uuid,
  status text not null default 'open' check (status in ('open', 'waiting_for_human', 'human', 'closed')),
  assigned_member_id uuid references auth.users (id) on delete set null,
  escalation_reason text,
  -- What a channel adapter needs to reply (e.g. Slack channel + thread_ts).
  channel_context jsonb not null default '{}'::jsonb check (jsonb_typeof(channel_context) = 'object'),
  last_message_at timestamptz,
  last_inbound_at timestamptz,
  last_message_preview text,
  -- The model failure that kept the agent from answering ({error, status, failures, at});
  -- null once a turn succeeds (api.record_model_outcome).
  model_failure jsonb check (model_failure is null or jsonb_typeof(model_failure) = 'object'),
  -- A conversation from the portal's test chat: its messages never count toward the plan.
  is_test boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The seq of the newest contact message (app.bump_conversation): a member has unread
  -- messages when it is past what they read (app.conversation_reads), one comparison per row.
  last_inbound_seq bigint,
  unique (tenant_id, id),
  unique (connection_id, thread_key),
  foreign key (tenant_id, connection_id) references app.channel_connections (tenant_id, id) on delete cascade,
  foreign key (tenant_id, contact_id) references app.contacts (tenant_id, id),
  foreign key (tenant_id, agent_id) references app.agents (tenant_id, id)
);
-- The inbox's order (api.list_conversations: latest activity first), so its first page reads
-- one page of rows however many conversations the tenant has.
create index conversations_tenant_activity_idx
  on app.conversations (tenant_id, (coalesce(last_message_at, created_at)) desc, id desc);
create index conversations_assignee_idx on app.conversations (assigned_member_id) where assigned_member_id is not null;
create index conversations_contact_id_idx on app.conversations (contact_id);
create index conversations_agent_id_idx on app.conversations (agent_id);
comment on table app.conversations is 'One thread on one channel connection: status open (agent answers) / waiting_for_human (escalated) / human (a member took over; the agent is silent) / closed. is_test: the portal''s test chat (never counts toward the plan).';
alter table app.conversations enable row level security;
alter table app.conversations force row level security;
create policy "members can read their tenant's conversations" on app.conversations
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can take over, release and close conversations" on app.conversations
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
grant select, update (status, assigned_member_id, escalation_reason, agent_id) on app.conversations to authenticated;
grant select, insert, update, delete on app.conversations to service_role;
create trigger conversations_touch_updated_at before update on app.conversations
  for each row execute function app.touch_updated_at();

create table app.messages (
  id uuid primary key default gen_random_uuid(),
  seq bigint generated always as identity unique,
  tenant_id uuid not null,
  conversation_id uuid not null,
  connection_id uuid not null,
  direction text not null check (direction in ('in', 'out')),
  author_kind text not null check (author_kind in ('contact', 'agent', 'member', 'system')),
  author_member_id uuid references auth.users (id) on delete set null,
  -- Who wrote an inbound message: in a Slack thread several people may write, and each
  -- is answered with their own memories and may confirm only what was proposed to them.
  author_contact_id uuid,
  agent_id uuid,
  text text,
  attachments jsonb not null default '[]'::jsonb check (jsonb_typeof(attachments) = 'array'),
  -- The channel's own id (Slack ts, WhatsApp wamid, widget message id); unique per connection.
  external_id text,
  -- Producer's key for outbound messages (e.g. 'job:42'), so a retried worker records one reply.
  idempotency_key text,
  delivery_status text not null default 'received'
    check (delivery_status in ('received', 'pending', 'sent', 'delivered', 'read', 'failed', 'undeliverable')),
  delivery_error text,
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default now(),
  -- Full-text search over every message of a tenant (the inbox search). 'simple' keeps
  -- words as written, so any language matches; the GIN index keeps search off a scan.
  search tsvector generated always as (to_tsvector('simple'::regconfig, coalesce(text, ''))) stored,
  constraint messages_connection_external_id_key unique (connection_id, external_id),
  constraint messages_conversation_idempotency_key unique (conversation_id, idempotency_key),
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade,
  foreign key (tenant_id, connection_id) references app.channel_connections (tenant_id, id) on delete cascade,
  foreign key (tenant_id, author_contact_id) references app.contacts (tenant_id, id),
  check ((direction = 'in') = (author_kind = 'contact'))
);
create index messages_conversation_seq_idx on app.messages (conversation_id, seq desc);
create index messages_tenant_created_idx on app.messages (tenant_id, created_at);
create index messages_search_idx on app.messages using gin (search);
comment on table app.messages is 'A message in a conversation: direction in/out, author contact/agent/member/system, text, attachments metadata, the channel''s external id (unique per connection) and the delivery status. seq orders messages and pages them.';
alter table app.messages enable row level security;
alter table app.messages force row level security;
create policy "members can read their tenant's messages" on app.messages
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can reply as themselves" on app.messages
  for insert to authenticated with check (
    app.is_member(tenant_id, 'admin')
    and direction = 'out' and author_kind = 'member' and author_member_id = (select auth.uid())
  );
grant select, insert (tenant_id, conversation_id, connection_id, direction, author_kind, author_member_id, text,
  attachments, idempotency_key, delivery_status, metadata) on app.messages to authenticated;
grant select, insert, update, delete on app.messages to service_role;
create trigger messages_touch_updated_at before update on app.messages
  for each row execute function app.touch_updated_at();

create table app.conversation_reads (
  conversation_id uuid not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  tenant_id uuid not null,
  last_read_seq bigint not null default 0,
  read_at timestamptz not null default now(),
  primary key (conversation_id, user_id),
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade
);
create index conversation_reads_tenant_idx on app.conversation_reads (tenant_id);
comment on table app.conversation_reads is 'How far each member has read each conversation (the seq of the newest contact message they saw): unread marks per member without counting messages. Written by api.mark_conversation_read.';
alter table app.conversation_reads enable row level security;
alter table app.conversation_reads force row level security;
create policy "members can read their tenant's read marks" on app.conversation_reads
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can add their own read marks" on app.conversation_reads
  for insert to authenticated with check (user_id = (select auth.uid()) and app.is_member(tenant_id));
create policy "members can move their own read marks" on app.conversation_reads
  for update to authenticated using (user_id = (select auth.uid()) and app.is_member(tenant_id))
  with check (user_id = (select auth.uid()) and app.is_member(tenant_id));
grant select, insert, update (last_read_seq, read_at) on app.conversation_reads to authenticated;
grant select, insert, update, delete on app.conversation_reads to service_role;

create table app.tool_calls (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  conversation_id uuid not null,
  message_id uuid references app.messages (id) on delete set null,
  agent_id uuid,
  tool_name text not null,
  arguments jsonb not null default '{}'::jsonb,
  result jsonb,
  status text not null default 'requested'
    check (status in ('requested', 'awaiting_confirmation', 'confirmed', 'cancelled', 'succeeded', 'failed', 'refused')),
  error text,
  idempotency_key text,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  unique (conversation_id, idempotency_key),
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade
);
create index tool_calls_conversation_idx on app.tool_calls (conversation_id, created_at);
comment on table app.tool_calls is 'Every tool an agent called (or was refused), with arguments, result and status; side-effecting tools wait in awaiting_confirmation.';
alter table app.tool_calls enable row level security;
alter table app.tool_calls force row level security;
create policy "members can read their tenant's tool calls" on app.tool_calls
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.tool_calls to authenticated;
grant select, insert, update, delete on app.tool_calls to service_role;

create table app.conversation_notes (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  conversation_id uuid not null,
  author_member_id uuid references auth.users (id) on delete set null,
  text text not null check (length(btrim(text)) between 1 and 4000),
  created_at timestamptz not null default clock_timestamp(),
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade
);
create index conversation_notes_conversation_idx on app.conversation_notes (conversation_id, created_at);
create index conversation_notes_tenant_idx on app.conversation_notes (tenant_id);
comment on table app.conversation_notes is 'Internal notes of the team on a conversation. Kept apart from app.messages so that no channel, delivery or agent prompt can read one: customers never see them.';
alter table app.conversation_notes enable row level security;
alter table app.conversation_notes force row level security;
create policy "members can read their tenant's notes" on app.conversation_notes
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can write notes as themselves" on app.conversation_notes
  for insert to authenticated
  with check (app.is_member(tenant_id, 'admin') and author_member_id = (select auth.uid()));
grant select, insert (tenant_id, conversation_id, author_member_id, text) on app.conversation_notes to authenticated;
grant select, insert, update, delete on app.conversation_notes to service_role;

create table app.canned_replies (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  shortcut text not null check (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
  text text not null check (length(btrim(text)) between 1 and 4000),
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, shortcut)
);
comment on table app.canned_replies is 'Saved replies of a tenant, inserted in the reply box by typing /shortcut.';
alter table app.canned_replies enable row level security;
alter table app.canned_replies force row level security;
create policy "members can read their tenant's canned replies" on app.canned_replies
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can add canned replies" on app.canned_replies
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can change canned replies" on app.canned_replies
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete canned replies" on app.canned_replies
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
grant select, insert, update (shortcut, text), delete on app.canned_replies to authenticated;
grant select, insert, update, delete on app.canned_replies to service_role;
create trigger canned_replies_touch_updated_at before update on app.canned_replies
  for each row execute function app.touch_updated_at();

-- Deleting an agent unassigns it from channels and conversations (a composite foreign key
-- cannot "set null" only one column on PostgreSQL 15); history keeps its id.
create function app.unassign_deleted_agent()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update app.channel_connections c set agent_id = null where c.agent_id = old.id;
  update app.conversations c set agent_id = null where c.agent_id = old.id;
  return old;
end
$$;
comment on function app.unassign_deleted_agent() is 'Before-delete trigger on agents: unassigns the agent from channel connections and conversations.';
revoke all on function app.unassign_deleted_agent() from public, anon, authenticated;
create trigger agents_unassign_from_channels before delete on app.agents
  for each row execute function app.unassign_deleted_agent();

-- A message moves its conversation forward (recency, preview, the WhatsApp 24h window).
create function app.bump_conversation()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update app.conversations c set
    last_message_at = greatest(coalesce(c.last_message_at, new.created_at), new.created_at),
    last_inbound_at = case when new.direction = 'in'
      then greatest(coalesce(c.last_inbound_at, new.created_at), new.created_at) else c.last_inbound_at end,
    last_message_preview = left(coalesce(new.text, '[attachment]'), 200),
    last_inbound_seq = case when new.direction = 'in' then greatest(coalesce(c.last_inbound_seq, 0), new.seq)
      else c.last_inbound_seq end
  where c.id = new.conversation_id;
  return null;
end
$$;
comment on function app.bump_conversation() is 'After-insert trigger on messages: updates the conversation''s last_message_at, last_inbound_at and preview.';
revoke all on function app.bump_conversation() from public, anon, authenticated;
create trigger messages_bump_conversation after insert on app.messages
  for each row execute function app.bump_conversation();

-- Takeover, release and escalation are audited whoever makes them.
create function app.audit_conversation_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.status is distinct from old.status or new.assigned_member_id is distinct from old.assigned_member_id then
    perform app.write_audit(
      new.tenant_id,
      case
        when new.status = 'human' and old.status <> 'human' then 'conversation.takeover'
        when new.status = 'human' then 'conversation.reassigned'
        when old.status = 'human' and new.status = 'open' then 'conversation.release'
        when new.status = 'waiting_for_human' then 'conversation.escalated'
        when new.status = 'closed' then 'conversation.closed'
        else 'conversation.reopened'
      end,
      'conversation',
      new.id::text,
      jsonb_build_object('from', old.status, 'to', new.status, 'assigned_member_id', new.assigned_member_id,
        'reason', new.escalation_reason)
    );
  end if;
  return null;
end
$$;
comment on function app.audit_conversation_status() is 'After-update trigger on conversations: audits takeover, release, escalation, close and reassignment.';
revoke all on function app.audit_conversation_status() from public, anon, authenticated;
create trigger conversations_audit_status after update of status, assigned_member_id on app.conversations
  for each row execute function app.audit_conversation_status();

create function app.broadcast_message()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.delivery_status is not distinct from old.delivery_status
     and new.text is not distinct from old.text and new.external_id is not distinct from old.external_id then
    return null;
  end if;
  perform realtime.send(
    jsonb_build_object(
      'id', new.id, 'seq', new.seq, 'tenant_id', new.tenant_id, 'conversation_id', new.conversation_id,
      'connection_id', new.connection_id, 'direction', new.direction, 'author_kind', new.author_kind,
      'author_member_id', new.author_member_id, 'agent_id', new.agent_id, 'text', new.text,
      'attachments', new.attachments, 'delivery_status', new.delivery_status, 'created_at', new.created_at
    ),
    case tg_op when 'INSERT' then 'message_created' else 'message_updated' end,
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_message() is 'After-row trigger on messages: broadcasts message_created / message_updated (delivery status, text) to tenant:<tenant_id>.';
revoke all on function app.broadcast_message() from public, anon, authenticated;
create trigger messages_broadcast after insert or update on app.messages
  for each row execute function app.broadcast_message();

create function app.broadcast_conversation()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object(
      'id', new.id, 'tenant_id', new.tenant_id, 'connection_id', new.connection_id, 'channel', new.channel,
      'contact_id', new.contact_id,
      'contact_name', (select c.display_name from app.contacts c where c.id = new.contact_id),
      'agent_id', new.agent_id, 'status', new.status, 'assigned_member_id', new.assigned_member_id,
      'escalation_reason', new.escalation_reason, 'last_message_at', new.last_message_at,
      'last_message_preview', new.last_message_preview, 'model_failure', new.model_failure,
      'is_test', new.is_test, 'created_at', new.created_at, 'operation', lower(tg_op)
    ),
    'conversation_changed',
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_conversation() is 'After-row trigger on conversations: broadcasts conversation_changed (status, assignment, last message) to tenant:<tenant_id>.';
revoke all on function app.broadcast_conversation() from public, anon, authenticated;
create trigger conversations_broadcast after insert or update on app.conversations
  for each row execute function app.broadcast_conversation();

create function app.conversation_json(conversation_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', c.id, 'tenant_id', c.tenant_id, 'connection_id', c.connection_id, 'channel', c.channel,
    'thread_key', c.thread_key, 'contact_id', c.contact_id, 'contact_name', ct.display_name,
    'agent_id', c.agent_id, 'status', c.status, 'assigned_member_id', c.assigned_member_id,
    'escalation_reason', c.escalation_reason, 'last_message_at', c.last_message_at,
    'last_inbound_at', c.last_inbound_at, 'last_message_preview', c.last_message_preview,
    'channel_context', c.channel_context, 'model_failure', c.model_failure, 'is_test', c.is_test,
    'created_at', c.created_at, 'updated_at', c.updated_at)
  from app.conversations c
  left join app.contacts ct on ct.id = c.contact_id
  where c.id = conversation_json.conversation_id
$$;
comment on function app.conversation_json(uuid) is 'A conversation as JSON for the api, with the contact''s display name.';
revoke all on function app.conversation_json(uuid) from public, anon;
grant execute on function app.conversation_json(uuid) to authenticated, service_role;

create function app.require_inbox_view(view text)
returns void
language plpgsql
immutable
set search_path = ''
as $fn$
begin
  if view is not null and view not in ('all', 'mine', 'unassigned', 'waiting', 'closed') then
    raise exception 'unknown view %; use all, mine, unassigned, waiting or closed', view using errcode = '22023';
  end if;
end
$fn$;
comment on function app.require_inbox_view(text) is 'Refuses (22023) an inbox view other than all, mine, unassigned, waiting and closed.';
revoke all on function app.require_inbox_view(text) from public, anon;
grant execute on function app.require_inbox_view(text) to authenticated, service_role;

create function api.get_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = get_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_read(conversation_tenant, 'conversation');
  return app.conversation_json(get_conversation.conversation_id);
end
$$;
comment on function api.get_conversation(uuid) is 'One conversation with its contact. Any member.';
revoke all on function api.get_conversation(uuid) from public, anon;
grant execute on function api.get_conversation(uuid) to authenticated;

create function api.list_messages(conversation_id uuid, before_seq bigint default null, page_size integer default 50)
returns table (id uuid, seq bigint, direction text, author_kind text, author_member_id uuid, agent_id uuid, text text,
  attachments jsonb, delivery_status text, delivery_error text, created_at timestamptz)
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = list_messages.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_read(conversation_tenant, 'messages');
  return query
    select p.id, p.seq, p.direction, p.author_kind, p.author_member_id, p.agent_id, p.text, p.attachments,
      p.delivery_status, p.delivery_error, p.created_at
    from (
      select m.* from app.messages m
      where m.conversation_id = list_messages.conversation_id
        and (list_messages.before_seq is null or m.seq < list_messages.before_seq)
      order by m.seq desc
      limit least(greatest(coalesce(list_messages.page_size, 50), 1), 200)
    ) p
    order by p.seq;
end
$$;
comment on function api.list_messages(uuid, bigint, integer) is 'The newest page_size (1-200) messages of a conversation before before_seq, in chronological order; for the previous page pass the first row''s seq. Any member.';
revoke all on function api.list_messages(uuid, bigint, integer) from public, anon;
grant execute on function api.list_messages(uuid, bigint, integer) to authenticated;

create function api.takeover_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = takeover_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conversation_tenant, 'admin');
  update app.conversations c set status = 'human', assigned_member_id = (select auth.uid())
  where c.id = takeover_conversation.conversation_id;
  return app.conversation_json(takeover_conversation.conversation_id);
end
$$;
comment on function api.takeover_conversation(uuid) is 'The caller takes over a conversation: status human, assigned to the caller; the agent stays silent. Audited. Owners and admins.';
revoke all on function api.takeover_conversation(uuid) from public, anon;
grant execute on function api.takeover_conversation(uuid) to authenticated;

create function api.release_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = release_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conversation_tenant, 'admin');
  update app.conversations c set status = 'open', assigned_member_id = null, escalation_reason = null
  where c.id = release_conversation.conversation_id;
  return app.conversation_json(release_conversation.conversation_id);
end
$$;
comment on function api.release_conversation(uuid) is 'Returns a conversation to its agent (status open). Audited. Owners and admins.';
revoke all on function api.release_conversation(uuid) from public, anon;
grant execute on function api.release_conversation(uuid) to authenticated;

create function api.close_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = close_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conversation_tenant, 'admin');
  update app.conversations c set status = 'closed', assigned_member_id = null
  where c.id = close_conversation.conversation_id;
  return app.conversation_json(close_conversation.conversation_id);
end
$$;
comment on function api.close_conversation(uuid) is 'Closes a conversation (a new inbound message reopens it). Audited. Owners and admins.';
revoke all on function api.close_conversation(uuid) from public, anon;
grant execute on function api.close_conversation(uuid) to authenticated;

create function app.enqueue_member_reply(message_id uuid)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  msg app.messages;
begin
  select * into msg from app.messages m where m.id = enqueue_member_reply.message_id;
  if not found or msg.author_kind <> 'member' or msg.author_member_id is distinct from (select auth.uid())
     or msg.delivery_status <> 'pending' or not app.is_member(msg.tenant_id, 'admin') then
    raise exception 'permission denied' using errcode = '42501';
  end if;
  return app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'deliver', 'tenant_id', msg.tenant_id,
    'conversation_id', msg.conversation_id, 'message_id', msg.id));
end
$$;
comment on function app.enqueue_member_reply(uuid) is 'Queues delivery of the caller''s own pending member reply. Security definer because only service_role may use pgmq; checks the message is the caller''s.';
revoke all on function app.enqueue_member_reply(uuid) from public, anon;
grant execute on function app.enqueue_member_reply(uuid) to authenticated, service_role;

create function api.reply_as_member(conversation_id uuid, text text, attachments jsonb default '[]'::jsonb,
  client_key text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv record;
  new_message_id uuid;
  job_id bigint;
begin
  select c.id, c.tenant_id, c.connection_id, c.status, c.assigned_member_id into conv
  from app.conversations c where c.id = reply_as_member.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conv.tenant_id, 'admin');
  if coalesce(btrim(reply_as_member.text), '') = '' and coalesce(jsonb_array_length(reply_as_member.attachments), 0) = 0 then
    raise exception 'a reply needs text or an attachment' using errcode = '22023';
  end if;
  if reply_as_member.client_key is not null then
    select m.id into new_message_id from app.messages m
    where m.conversation_id = conv.id and m.idempotency_key = 'member:' || reply_as_member.client_key;
    if found then
      return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'duplicate', true);
    end if;
  end if;
  -- Replying takes the conversation over: the agent must not answer at the same time.
  if conv.status <> 'human' or conv.assigned_member_id is distinct from (select auth.uid()) then
    update app.conversations c set status = 'human', assigned_member_id = (select auth.uid()) where c.id = conv.id;
  end if;
  insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, author_member_id, text,
    attachments, idempotency_key, delivery_status)
  values (conv.tenant_id, conv.id, conv.connection_id, 'out', 'member', (select auth.uid()), reply_as_member.text,
    coalesce(reply_as_member.attachments, '[]'::jsonb), 'member:' || coalesce(reply_as_member.client_key, gen_random_uuid()::text),
    'pending')
  returning id into new_message_id;
  job_id := app.enqueue_member_reply(new_message_id);
  return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'job_id', job_id, 'duplicate', false);
end
$$;
comment on function api.reply_as_member(uuid, text, jsonb, text) is 'A member''s reply: takes the conversation over (status human), stores an outbound message (pending) and queues its delivery to the channel. client_key makes a retried click a no-op. Owners and admins.';
revoke all on function api.reply_as_member(uuid, text, jsonb, text) from public, anon;
grant execute on function api.reply_as_member(uuid, text, jsonb, text) to authenticated;

create function app.require_conversation_of_tenant(tenant_id uuid, conversation_id uuid)
returns app.conversations
language plpgsql
stable
set search_path = ''
as $$
declare
  conv app.conversations;
begin
  select * into conv from app.conversations c where c.id = require_conversation_of_tenant.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  if conv.tenant_id <> require_conversation_of_tenant.tenant_id then
    raise exception 'conversation % does not belong to tenant %', require_conversation_of_tenant.conversation_id,
      require_conversation_of_tenant.tenant_id using errcode = '42501';
  end if;
  return conv;
end
$$;
comment on function app.require_conversation_of_tenant(uuid, uuid) is 'The conversation; raises P0002 when missing and 42501 when it belongs to another tenant.';
revoke all on function app.require_conversation_of_tenant(uuid, uuid) from public, anon, authenticated;
grant execute on function app.require_conversation_of_tenant(uuid, uuid) to service_role;

create function api.record_tool_call(tenant_id uuid, conversation_id uuid, tool_name text, arguments jsonb,
  status text default 'requested', result jsonb default null, error text default null, agent_id uuid default null,
  message_id uuid default null, idempotency_key text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(record_tool_call.tenant_id, record_tool_call.conversation_id);
  new_id uuid;
begin
  insert into app.tool_calls (tenant_id, conversation_id, message_id, agent_id, tool_name, arguments, result, status,
    error, idempotency_key, completed_at)
  values (conv.tenant_id, conv.id, record_tool_call.message_id, coalesce(record_tool_call.agent_id, conv.agent_id),
    record_tool_call.tool_name, coalesce(record_tool_call.arguments, '{}'::jsonb), record_tool_call.result,
    coalesce(record_tool_call.status, 'requested'), record_tool_call.error, record_tool_call.idempotency_key,
    case when record_tool_call.status in ('succeeded', 'failed', 'refused', 'cancelled') then now() end)
  on conflict on constraint tool_calls_conversation_id_idempotency_key_key do nothing
  returning id into new_id;
  if new_id is null then
    select t.id into new_id from app.tool_calls t
    where t.conversation_id = conv.id and t.idempotency_key = record_tool_call.idempotency_key;
    return jsonb_build_object('tool_call_id', new_id, 'duplicate', true,
      'status', (select t.status from app.tool_calls t where t.id = new_id));
  end if;
  return jsonb_build_object('tool_call_id', new_id, 'duplicate', false, 'status', coalesce(record_tool_call.status, 'requested'));
end
$$;
comment on function api.record_tool_call(uuid, uuid, text, jsonb, text, jsonb, text, uuid, uuid, text) is 'Logs a tool call with its arguments and (if known) outcome; idempotent per conversation by idempotency_key. service_role.';
revoke all on function api.record_tool_call(uuid, uuid, text, jsonb, text, jsonb, text, uuid, uuid, text) from public, anon;
grant execute on function api.record_tool_call(uuid, uuid, text, jsonb, text, jsonb, text, uuid, uuid, text) to service_role;

create function api.update_tool_call(tenant_id uuid, tool_call_id uuid, status text, result jsonb default null,
  error text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  call_tenant uuid;
begin
  select t.tenant_id into call_tenant from app.tool_calls t where t.id = update_tool_call.tool_call_id;
  if not found then
    raise exception 'tool call not found' using errcode = 'P0002';
  end if;
  if call_tenant <> update_tool_call.tenant_id then
    raise exception 'tool call does not belong to tenant' using errcode = '42501';
  end if;
  update app.tool_calls t set status = update_tool_call.status,
    result = coalesce(update_tool_call.result, t.result), error = coalesce(update_tool_call.error, t.error),
    completed_at = case when update_tool_call.status in ('succeeded', 'failed', 'refused', 'cancelled') then now()
      else t.completed_at end
  where t.id = update_tool_call.tool_call_id;
  return jsonb_build_object('tool_call_id', update_tool_call.tool_call_id, 'status', update_tool_call.status);
end
$$;
comment on function api.update_tool_call(uuid, uuid, text, jsonb, text) is 'Moves a tool call on (confirmed, cancelled, succeeded, failed, refused) with its result or error. service_role.';
revoke all on function api.update_tool_call(uuid, uuid, text, jsonb, text) from public, anon;
grant execute on function api.update_tool_call(uuid, uuid, text, jsonb, text) to service_role;

create function api.escalate_conversation(tenant_id uuid, conversation_id uuid, reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(escalate_conversation.tenant_id,
    escalate_conversation.conversation_id);
begin
  if conv.status in ('open', 'closed') then
    update app.conversations c set status = 'waiting_for_human', escalation_reason = escalate_conversation.reason
    where c.id = conv.id;
  end if;
  return app.conversation_json(conv.id);
end
$$;
comment on function api.escalate_conversation(uuid, uuid, text) is 'Hands a conversation to the humans: status waiting_for_human with the reason (no-op when a human already has it); audited and broadcast to the portal. service_role.';
revoke all on function api.escalate_conversation(uuid, uuid, text) from public, anon;
grant execute on function api.escalate_conversation(uuid, uuid, text) to service_role;

create function api.find_conversation(connection_id uuid, thread_key text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('conversation_id', c.id, 'tenant_id', c.tenant_id, 'status', c.status,
    'agent_id', c.agent_id, 'channel_context', c.channel_context)
  from app.conversations c
  where c.connection_id = find_conversation.connection_id and c.thread_key = find_conversation.thread_key
$$;
comment on function api.find_conversation(uuid, text) is 'The conversation of a thread on a connection (e.g. a Slack thread the agent already speaks in), or null. service_role.';
revoke all on function api.find_conversation(uuid, text) from public, anon, authenticated;
grant execute on function api.find_conversation(uuid, text) to service_role;

create function api.web_chat_history(connection_id uuid, visitor_id text, after_seq bigint default null,
  page_size integer default 50)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'conversation_id', c.id,
    'status', c.status,
    'messages', coalesce((
      select jsonb_agg(jsonb_build_object('id', m.id, 'seq', m.seq, 'direction', m.direction,
          'author_kind', m.author_kind, 'text', m.text, 'created_at', m.created_at) order by m.seq)
      from (
        select * from app.messages m
        where m.conversation_id = c.id and m.seq > coalesce(web_chat_history.after_seq, 0)
          and m.delivery_status <> 'undeliverable'
        order by m.seq desc
        limit least(greatest(coalesce(web_chat_history.page_size, 50), 1), 200)
      ) m), '[]'::jsonb))
  from app.conversations c
  join app.channel_connections cc on cc.id = c.connection_id and cc.kind = 'web_chat'
  where c.connection_id = web_chat_history.connection_id and c.thread_key = web_chat_history.visitor_id
$$;
comment on function api.web_chat_history(uuid, text, bigint, integer) is 'The latest messages (oldest first, at most 200, after after_seq) of one web chat visitor''s conversation, with only what the widget shows: no internal ids, metadata or delivery errors; null when the visitor has not written yet. service_role.';
revoke all on function api.web_chat_history(uuid, text, bigint, integer) from public, anon, authenticated;
grant execute on function api.web_chat_history(uuid, text, bigint, integer) to service_role;

create function api.escalate_channel_thread(connection_id uuid, thread_key text, reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations;
begin
  select * into conv from app.conversations c
  where c.connection_id = escalate_channel_thread.connection_id and c.thread_key = escalate_channel_thread.thread_key;
  if not found then
    return null;
  end if;
  return api.escalate_conversation(conv.tenant_id, conv.id, escalate_channel_thread.reason);
end
$$;
comment on function api.escalate_channel_thread(uuid, text, text) is 'Hands the conversation of a thread on a connection to the humans ("talk to a human" button): see escalate_conversation; null when the thread has no conversation. service_role.';
revoke all on function api.escalate_channel_thread(uuid, text, text) from public, anon, authenticated;
grant execute on function api.escalate_channel_thread(uuid, text, text) to service_role;

create function app.broadcast_web_chat_message()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  visitor text;
begin
  if tg_op = 'UPDATE' and new.text is not distinct from old.text
     and new.delivery_status is not distinct from old.delivery_status then
    return null;
  end if;
  select c.thread_key into visitor from app.conversations c where c.id = new.conversation_id and c.channel = 'web_chat';
  if visitor is null or new.delivery_status = 'undeliverable' then
    return null;
  end if;
  -- Only what the widget shows: never metadata, agent or member ids, or delivery errors.
  perform realtime.send(
    jsonb_build_object('id', new.id, 'seq', new.seq, 'direction', new.direction, 'author_kind', new.author_kind,
      'text', new.text, 'created_at', new.created_at),
    case tg_op when 'INSERT' then 'message_created' else 'message_updated' end,
    'webchat:' || visitor,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_web_chat_message() is 'After-row trigger on messages: broadcasts web chat messages (what the widget shows) to the private topic webchat:<visitor_id> of the visitor''s conversation.';
revoke all on function app.broadcast_web_chat_message() from public, anon, authenticated;
create trigger messages_broadcast_web_chat after insert or update on app.messages
  for each row execute function app.broadcast_web_chat_message();

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
revoke all on function api.web_chat_status(uuid, text) from public, anon, authenticated;
grant execute on function api.web_chat_status(uuid, text) to service_role;

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
revoke all on function app.broadcast_web_chat_status() from public, anon, authenticated;
create trigger conversations_broadcast_web_chat_status after update of status on app.conversations
  for each row execute function app.broadcast_web_chat_status();

create function api.list_tool_calls(conversation_id uuid)
returns table (id uuid, message_id uuid, agent_id uuid, tool_name text, arguments jsonb, status text, result jsonb,
  error text, created_at timestamptz, completed_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = list_tool_calls.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_read(conversation_tenant, 'tool_calls');
  return query
    select p.id, p.message_id, p.agent_id, p.tool_name, p.arguments, p.status, p.result, p.error, p.created_at,
      p.completed_at
    from (
      select t.* from app.tool_calls t
      where t.conversation_id = list_tool_calls.conversation_id
      order by t.created_at desc, t.id desc
      limit 500
    ) p
    order by p.created_at, p.id;
end
$$;
comment on function api.list_tool_calls(uuid) is 'The tool calls of a conversation (the newest 500, oldest first): tool name, arguments, status (requested, awaiting_confirmation, confirmed, cancelled, succeeded, failed, refused), result, error, the message it answered and when. Read-only. Any member; platform admins (audited).';
revoke all on function api.list_tool_calls(uuid) from public, anon, authenticated;
grant execute on function api.list_tool_calls(uuid) to authenticated;

create function app.next_assignee(tenant_id uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select m.user_id from app.memberships m
  where m.tenant_id = next_assignee.tenant_id and m.role in ('owner', 'admin') and m.available
  order by m.last_assigned_at nulls first, m.created_at, m.user_id
  limit 1
$$;
comment on function app.next_assignee(uuid) is 'The available owner or admin whose last auto-assigned hand-off is oldest (never assigned first): round robin.';
revoke all on function app.next_assignee(uuid) from public, anon, authenticated;

create function app.assign_handoff()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  assignee uuid;
begin
  if new.status = 'waiting_for_human' and old.status is distinct from 'waiting_for_human'
     and new.assigned_member_id is null then
    assignee := app.next_assignee(new.tenant_id);
    if assignee is not null then
      new.assigned_member_id := assignee;
      update app.memberships m set last_assigned_at = clock_timestamp()
      where m.tenant_id = new.tenant_id and m.user_id = assignee;
    end if;
  end if;
  return new;
end
$$;
comment on function app.assign_handoff() is 'Before-update trigger on conversations: a hand-off nobody has goes round robin to an available owner or admin.';
revoke all on function app.assign_handoff() from public, anon, authenticated;
create trigger conversations_assign_handoff before update of status on app.conversations
  for each row execute function app.assign_handoff();

create function app.broadcast_note()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object('id', new.id, 'tenant_id', new.tenant_id, 'conversation_id', new.conversation_id,
      'author_member_id', new.author_member_id, 'text', new.text, 'created_at', new.created_at),
    'note_created',
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_note() is 'After-insert trigger on conversation_notes: broadcasts note_created to the tenant''s private portal topic (members only; never a channel).';
revoke all on function app.broadcast_note() from public, anon, authenticated;
create trigger conversation_notes_broadcast after insert on app.conversation_notes
  for each row execute function app.broadcast_note();

create function app.conversation_tenant(conversation_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  found_tenant uuid;
begin
  select c.tenant_id into found_tenant from app.conversations c where c.id = conversation_tenant.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  return found_tenant;
end
$$;
comment on function app.conversation_tenant(uuid) is 'The tenant of a conversation the caller can see; P0002 otherwise.';
revoke all on function app.conversation_tenant(uuid) from public, anon;
grant execute on function app.conversation_tenant(uuid) to authenticated, service_role;

create function api.assign_conversation(conversation_id uuid, member_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv_tenant uuid := app.conversation_tenant(assign_conversation.conversation_id);
begin
  perform app.require_role(conv_tenant, 'admin');
  if assign_conversation.member_id is not null and not exists (
    select 1 from app.memberships m
    where m.tenant_id = conv_tenant and m.user_id = assign_conversation.member_id and m.role in ('owner', 'admin')
  ) then
    raise exception 'conversations can be assigned to owners and admins of this workspace only' using errcode = '22023';
  end if;
  update app.conversations c set assigned_member_id = assign_conversation.member_id
  where c.id = assign_conversation.conversation_id;
  return app.conversation_json(assign_conversation.conversation_id);
end
$$;
comment on function api.assign_conversation(uuid, uuid) is 'Assigns a conversation to an owner or admin of its tenant (22023 for anyone else), or to nobody (null). Audited. Owners and admins.';
revoke all on function api.assign_conversation(uuid, uuid) from public, anon;
grant execute on function api.assign_conversation(uuid, uuid) to authenticated;

create function api.mark_conversation_read(conversation_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations;
begin
  perform app.conversation_tenant(mark_conversation_read.conversation_id);
  select * into conv from app.conversations c where c.id = mark_conversation_read.conversation_id;
  perform app.require_read(conv.tenant_id, 'conversation');
  if not app.is_member(conv.tenant_id) then
    return; -- a platform admin's support view leaves no read marks
  end if;
  insert into app.conversation_reads as r (conversation_id, user_id, tenant_id, last_read_seq)
  values (conv.id, (select auth.uid()), conv.tenant_id, coalesce(conv.last_inbound_seq, 0))
  on conflict on constraint conversation_reads_pkey do update
    set last_read_seq = greatest(r.last_read_seq, excluded.last_read_seq), read_at = now();
end
$$;
comment on function api.mark_conversation_read(uuid) is 'Marks a conversation read up to its newest contact message for the caller (unread marks are per member). Any member.';
revoke all on function api.mark_conversation_read(uuid) from public, anon;
grant execute on function api.mark_conversation_read(uuid) to authenticated;

create function api.set_my_availability(tenant_id uuid, available boolean)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not app.is_member(set_my_availability.tenant_id) then
    raise exception 'permission denied: not a member of tenant %', set_my_availability.tenant_id using errcode = '42501';
  end if;
  update app.memberships m set available = coalesce(set_my_availability.available, true)
  where m.tenant_id = set_my_availability.tenant_id and m.user_id = (select auth.uid());
  return coalesce(set_my_availability.available, true);
end
$$;
comment on function api.set_my_availability(uuid, boolean) is 'Turns the caller''s turn in the hand-off round robin on or off. Any member (only owners and admins are assigned). Security definer to change one column of the caller''s own membership.';
revoke all on function api.set_my_availability(uuid, boolean) from public, anon;
grant execute on function api.set_my_availability(uuid, boolean) to authenticated;

create function api.list_assignees(tenant_id uuid)
returns table (user_id uuid, email text, role text, available boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select m.user_id, u.email::text, m.role, m.available
  from app.memberships m
  join auth.users u on u.id = m.user_id
  where m.tenant_id = list_assignees.tenant_id and m.role in ('owner', 'admin')
    and app.can_read(list_assignees.tenant_id)
  order by u.email
$$;
comment on function api.list_assignees(uuid) is 'The owners and admins a conversation can be assigned to, with their availability for hand-offs. Any member (nothing for others). Security definer to read auth.users emails.';
revoke all on function api.list_assignees(uuid) from public, anon;
grant execute on function api.list_assignees(uuid) to authenticated;

create function api.list_notes(conversation_id uuid)
returns table (id uuid, author_member_id uuid, text text, created_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
begin
  perform app.require_read(app.conversation_tenant(list_notes.conversation_id), 'notes');
  return query
    select n.id, n.author_member_id, n.text, n.created_at
    from (select * from app.conversation_notes x where x.conversation_id = list_notes.conversation_id
          order by x.created_at desc, x.id desc limit 500) n
    order by n.created_at, n.id;
end
$$;
comment on function api.list_notes(uuid) is 'The newest 500 internal notes of a conversation, oldest first. Any member.';
revoke all on function api.list_notes(uuid) from public, anon;
grant execute on function api.list_notes(uuid) to authenticated;

create function api.add_note(conversation_id uuid, text text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv_tenant uuid := app.conversation_tenant(add_note.conversation_id);
  note app.conversation_notes;
begin
  perform app.require_role(conv_tenant, 'admin');
  if coalesce(length(btrim(add_note.text)), 0) not between 1 and 4000 then
    raise exception 'a note has 1 to 4000 characters' using errcode = '22023';
  end if;
  insert into app.conversation_notes (tenant_id, conversation_id, author_member_id, text)
  values (conv_tenant, add_note.conversation_id, (select auth.uid()), btrim(add_note.text))
  returning * into note;
  return to_jsonb(note);
end
$$;
comment on function api.add_note(uuid, text) is 'Adds an internal note to a conversation (never sent to the customer). Owners and admins.';
revoke all on function api.add_note(uuid, text) from public, anon;
grant execute on function api.add_note(uuid, text) to authenticated;

create function api.list_canned_replies(tenant_id uuid)
returns table (id uuid, shortcut text, text text, updated_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select app.require_read(list_canned_replies.tenant_id, 'canned replies');
  select r.id, r.shortcut, r.text, r.updated_at from app.canned_replies r
  where r.tenant_id = list_canned_replies.tenant_id
  order by r.shortcut
  limit 500
$$;
comment on function api.list_canned_replies(uuid) is 'The canned replies of a tenant by shortcut (at most 500). Any member.';
revoke all on function api.list_canned_replies(uuid) from public, anon;
grant execute on function api.list_canned_replies(uuid) to authenticated;

create function api.save_canned_reply(tenant_id uuid, shortcut text, text text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  saved app.canned_replies;
  clean text := lower(btrim(coalesce(save_canned_reply.shortcut, ''), ' /'));
begin
  perform app.require_role(save_canned_reply.tenant_id, 'admin');
  if clean !~ '^[a-z0-9][a-z0-9_-]{0,31}$' then
    raise exception 'a shortcut is 1 to 32 letters, digits, - or _' using errcode = '22023';
  end if;
  if coalesce(length(btrim(save_canned_reply.text)), 0) not between 1 and 4000 then
    raise exception 'a canned reply has 1 to 4000 characters' using errcode = '22023';
  end if;
  insert into app.canned_replies as r (tenant_id, shortcut, text, created_by)
  values (save_canned_reply.tenant_id, clean, btrim(save_canned_reply.text), (select auth.uid()))
  on conflict on constraint canned_replies_tenant_id_shortcut_key do update set text = excluded.text
  returning * into saved;
  return jsonb_build_object('id', saved.id, 'shortcut', saved.shortcut, 'text', saved.text);
end
$$;
comment on function api.save_canned_reply(uuid, text, text) is 'Creates or replaces the canned reply of a /shortcut (lowercase letters, digits, - and _). Owners and admins.';
revoke all on function api.save_canned_reply(uuid, text, text) from public, anon;
grant execute on function api.save_canned_reply(uuid, text, text) to authenticated;

create function api.delete_canned_reply(canned_reply_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  reply_tenant uuid;
begin
  select r.tenant_id into reply_tenant from app.canned_replies r where r.id = delete_canned_reply.canned_reply_id;
  if not found then
    raise exception 'canned reply not found' using errcode = 'P0002';
  end if;
  perform app.require_role(reply_tenant, 'admin');
  delete from app.canned_replies r where r.id = delete_canned_reply.canned_reply_id;
end
$$;
comment on function api.delete_canned_reply(uuid) is 'Deletes a canned reply. Owners and admins.';
revoke all on function api.delete_canned_reply(uuid) from public, anon;
grant execute on function api.delete_canned_reply(uuid) to authenticated;

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
-- Members call it through api.list_conversations (security invoker: as themselves, under RLS).
revoke all on function app.inbox_page(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) from public, anon;
grant execute on function app.inbox_page(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) to authenticated, service_role;

create function api.list_conversations(
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
comment on function api.list_conversations(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) is 'Conversations of a tenant, most recent activity first. view: all / mine (assigned to the caller, not closed) / unassigned (not closed) / waiting / closed; filters by status, channel, agent, assignee, activity between from_time and to_time, and search (contact name, or full text over every message). unread = a contact message past the caller''s read mark; is_test = the portal''s test chat (never counted toward the plan). Keyset paging: pass the last row''s activity_at and id as before_activity_at/before_id. page_size 1-200. Any member.';
revoke all on function api.list_conversations(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) from public, anon;
grant execute on function api.list_conversations(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) to authenticated;
