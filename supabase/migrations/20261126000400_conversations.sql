-- Contacts, conversations, messages and tool calls.
--
-- A contact is one person per tenant; contact_identities map a channel's user id to
-- that person, so memory can follow them across channels. A conversation is one
-- thread on one connection (thread_key: Slack channel+thread, WhatsApp number, web
-- chat visitor). Messages are idempotent by (connection, external id). Composite
-- foreign keys on (tenant_id, id) keep every child in its parent's tenant.

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
-- The seq of the newest contact message (app.bump_conversation): a member has unread
-- messages when it is past what they read (app.conversation_reads), one comparison per row.
alter table app.conversations add column last_inbound_seq bigint;
create index conversations_assignee_idx on app.conversations (assigned_member_id) where assigned_member_id is not null;
create index conversations_contact_id_idx on app.conversations (contact_id);
create index conversations_agent_id_idx on app.conversations (agent_id);
comment on table app.conversations is 'One thread on one channel connection: status open (agent answers) / waiting_for_human (escalated) / human (a member took over; the agent is silent) / closed. is_test: the portal''s test chat (never counts toward the plan).';

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
  constraint messages_connection_external_id_key unique (connection_id, external_id),
  constraint messages_conversation_idempotency_key unique (conversation_id, idempotency_key),
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade,
  foreign key (tenant_id, connection_id) references app.channel_connections (tenant_id, id) on delete cascade,
  foreign key (tenant_id, author_contact_id) references app.contacts (tenant_id, id),
  check ((direction = 'in') = (author_kind = 'contact'))
);
create index messages_conversation_seq_idx on app.messages (conversation_id, seq desc);
create index messages_tenant_created_idx on app.messages (tenant_id, created_at);
-- Full-text search over every message of a tenant (the inbox search). 'simple' keeps
-- words as written, so any language matches; the GIN index keeps search off a scan.
alter table app.messages add column search tsvector
  generated always as (to_tsvector('simple'::regconfig, coalesce(text, ''))) stored;
create index messages_search_idx on app.messages using gin (search);
comment on table app.messages is 'A message in a conversation: direction in/out, author contact/agent/member/system, text, attachments metadata, the channel''s external id (unique per connection) and the delivery status. seq orders messages and pages them.';

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
create trigger agents_unassign_from_channels before delete on app.agents
  for each row execute function app.unassign_deleted_agent();

create trigger contacts_touch_updated_at before update on app.contacts
  for each row execute function app.touch_updated_at();
create trigger conversations_touch_updated_at before update on app.conversations
  for each row execute function app.touch_updated_at();
create trigger messages_touch_updated_at before update on app.messages
  for each row execute function app.touch_updated_at();

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
create trigger conversations_audit_status after update of status, assigned_member_id on app.conversations
  for each row execute function app.audit_conversation_status();

alter table app.contacts enable row level security;
alter table app.contacts force row level security;
alter table app.contact_identities enable row level security;
alter table app.contact_identities force row level security;
alter table app.conversations enable row level security;
alter table app.conversations force row level security;
alter table app.messages enable row level security;
alter table app.messages force row level security;
alter table app.tool_calls enable row level security;
alter table app.tool_calls force row level security;
alter table app.conversation_reads enable row level security;
alter table app.conversation_reads force row level security;

create policy "members can read their tenant's contacts" on app.contacts
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can update contacts" on app.contacts
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "members can read their tenant's contact identities" on app.contact_identities
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can read their tenant's conversations" on app.conversations
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can take over, release and close conversations" on app.conversations
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "members can read their tenant's messages" on app.messages
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can reply as themselves" on app.messages
  for insert to authenticated with check (
    app.is_member(tenant_id, 'admin')
    and direction = 'out' and author_kind = 'member' and author_member_id = (select auth.uid())
  );
create policy "members can read their tenant's tool calls" on app.tool_calls
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can read their tenant's read marks" on app.conversation_reads
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can add their own read marks" on app.conversation_reads
  for insert to authenticated with check (user_id = (select auth.uid()) and app.is_member(tenant_id));
create policy "members can move their own read marks" on app.conversation_reads
  for update to authenticated using (user_id = (select auth.uid()) and app.is_member(tenant_id))
  with check (user_id = (select auth.uid()) and app.is_member(tenant_id));

grant select, update (display_name, email, phone, metadata) on app.contacts to authenticated;
grant select on app.contact_identities, app.tool_calls to authenticated;
grant select, insert, update (last_read_seq, read_at) on app.conversation_reads to authenticated;
grant select, insert, update, delete on app.conversation_reads to service_role;
grant select, update (status, assigned_member_id, escalation_reason, agent_id) on app.conversations to authenticated;
grant select, insert (tenant_id, conversation_id, connection_id, direction, author_kind, author_member_id, text,
  attachments, idempotency_key, delivery_status, metadata) on app.messages to authenticated;
grant select, insert, update, delete on app.contacts, app.contact_identities, app.conversations, app.messages, app.tool_calls
  to service_role;

revoke all on function app.unassign_deleted_agent() from public, anon, authenticated;
revoke all on function app.bump_conversation() from public, anon, authenticated;
revoke all on function app.audit_conversation_status() from public, anon, authenticated;
