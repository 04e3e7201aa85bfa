-- The inbox a support team works in (issue 15, item 2), beside the list and read marks
-- defined with the conversations (app.conversation_reads, app.messages.search,
-- api.list_conversations):
--   * assignment: api.assign_conversation gives a conversation to an owner or admin (or
--     to nobody); a hand-off (status becoming waiting_for_human) with nobody assigned is
--     given round robin to the available owners and admins: the one whose last
--     assignment is oldest (app.memberships.last_assigned_at), so the work is shared and
--     the choice is one indexed row, whatever the history. api.set_my_availability turns
--     a member's turn on and off; api.list_assignees lists who can be assigned;
--   * read marks: api.mark_conversation_read moves the caller's mark to the newest
--     contact message;
--   * internal notes: app.conversation_notes, a table of their own that no channel, no
--     delivery and no agent prompt reads, so a customer never sees one; broadcast live
--     to the portal as note_created;
--   * canned replies: app.canned_replies, a /shortcut and its text per tenant.

-- Availability and round robin ------------------------------------------------------------------

alter table app.memberships
  add column available boolean not null default true,
  add column last_assigned_at timestamptz;
comment on column app.memberships.available is 'Whether hand-offs are auto-assigned to this member (owners and admins; api.set_my_availability).';
comment on column app.memberships.last_assigned_at is 'When a hand-off was last auto-assigned to this member: the round robin picks the oldest.';

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
create trigger conversations_assign_handoff before update of status on app.conversations
  for each row execute function app.assign_handoff();

-- Notes and canned replies --------------------------------------------------------------------

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
create trigger canned_replies_touch_updated_at before update on app.canned_replies
  for each row execute function app.touch_updated_at();

alter table app.conversation_notes enable row level security;
alter table app.conversation_notes force row level security;
alter table app.canned_replies enable row level security;
alter table app.canned_replies force row level security;

create policy "members can read their tenant's notes" on app.conversation_notes
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can write notes as themselves" on app.conversation_notes
  for insert to authenticated
  with check (app.is_member(tenant_id, 'admin') and author_member_id = (select auth.uid()));
create policy "members can read their tenant's canned replies" on app.canned_replies
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can add canned replies" on app.canned_replies
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can change canned replies" on app.canned_replies
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete canned replies" on app.canned_replies
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));

grant select, insert (tenant_id, conversation_id, author_member_id, text) on app.conversation_notes to authenticated;
grant select, insert, update (shortcut, text), delete on app.canned_replies to authenticated;
grant select, insert, update, delete on app.conversation_notes, app.canned_replies to service_role;

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
create trigger conversation_notes_broadcast after insert on app.conversation_notes
  for each row execute function app.broadcast_note();

-- api ---------------------------------------------------------------------------------------

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

revoke all on function app.next_assignee(uuid), app.assign_handoff(), app.broadcast_note() from public, anon, authenticated;
revoke all on function app.conversation_tenant(uuid) from public, anon;
grant execute on function app.conversation_tenant(uuid) to authenticated, service_role;
revoke all on function api.assign_conversation(uuid, uuid), api.mark_conversation_read(uuid),
  api.set_my_availability(uuid, boolean), api.list_assignees(uuid), api.list_notes(uuid), api.add_note(uuid, text),
  api.list_canned_replies(uuid), api.save_canned_reply(uuid, text, text), api.delete_canned_reply(uuid)
  from public, anon;
grant execute on function api.assign_conversation(uuid, uuid), api.mark_conversation_read(uuid),
  api.set_my_availability(uuid, boolean), api.list_assignees(uuid), api.list_notes(uuid), api.add_note(uuid, text),
  api.list_canned_replies(uuid), api.save_canned_reply(uuid, text, text), api.delete_canned_reply(uuid)
  to authenticated;
