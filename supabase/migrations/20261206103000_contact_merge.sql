-- Merging two contacts that are one person (seen on WhatsApp and in the widget, say).
--
-- api.merge_contacts(contact_id, duplicate_id) moves everything that points at the
-- duplicate to the contact that stays: its channel identities (so the next message on any
-- of them reaches the survivor), its conversations, the messages it wrote (a Slack thread
-- may hold several people's) and what the agents remember of it. The survivor keeps its
-- own name, email, phone and avatar and takes the duplicate's where it has none. The
-- duplicate stays as a row that says where it went (merged_into): no list shows it, its
-- page leads to the survivor, and nothing has to scan app.messages to prove nothing still
-- references it before a delete (app.messages has no index on its author, and the inbound
-- path should not pay for one).
--
-- Concurrency with inbound messages: api.ingest_message reads the identity unlocked, may
-- name the contact (a row lock on it), then locks the thread's conversation, then inserts
-- the message (a key-share lock on its author). The merge takes its locks in that same
-- order (the duplicate's identities, both contacts in id order, then the duplicate's
-- conversations) and locks the contacts "for no key update", which never blocks the
-- key-share lock a message insert takes: an inbound message waits at most for the merge
-- to commit, and never deadlocks with it. A message whose identity was read just before
-- the merge committed is still stored (its author row exists); it names the duplicate as
-- author, which the survivor's page and the merged_into link account for.
--
-- Two identities on the same Slack or WhatsApp channel cannot share a contact: replies on
-- those channels go to the contact's one user there (api.begin_delivery's recipient), so
-- a merge that would collide is refused and nothing changes.

alter table app.contacts
  add column merged_into uuid,
  add constraint contacts_merged_into_fkey foreign key (tenant_id, merged_into) references app.contacts (tenant_id, id),
  add constraint contacts_merged_into_other check (merged_into is null or merged_into <> id);
create index contacts_merged_into_idx on app.contacts (merged_into) where merged_into is not null;
comment on column app.contacts.merged_into is 'Set when an admin merged this contact into another of its tenant (api.merge_contacts): everything it had moved there; lists leave it out.';

create function api.merge_contacts(contact_id uuid, duplicate_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
-- Definer: members have no right to re-point identities, conversations, messages or
-- memories. It checks its caller itself: both contacts in a tenant the caller reads (else
-- "not found", as for any contact they cannot see), the same tenant, an owner or admin there.
declare
  keep app.contacts;
  gone app.contacts;
  tenant uuid;
  other_tenant uuid;
  clash text;
  since timestamptz;
  identities integer;
  conversations integer;
  messages integer;
  memories integer;
begin
  if merge_contacts.contact_id is null or merge_contacts.duplicate_id is null then
    raise exception 'two contacts are needed' using errcode = '22023';
  end if;
  if merge_contacts.contact_id = merge_contacts.duplicate_id then
    raise exception 'a contact cannot be merged with itself' using errcode = '22023';
  end if;
  select c.tenant_id into tenant from app.contacts c where c.id = merge_contacts.contact_id;
  select c.tenant_id into other_tenant from app.contacts c where c.id = merge_contacts.duplicate_id;
  if tenant is null or other_tenant is null
     or not (tenant = any (app.readable_tenants())) or not (other_tenant = any (app.readable_tenants())) then
    raise exception 'contact not found' using errcode = 'P0002';
  end if;
  if tenant <> other_tenant then
    raise exception 'the two contacts belong to different workspaces' using errcode = '22023';
  end if;
  perform app.require_role(tenant, 'admin');

  -- Locks, in the order inbound messages take theirs (see the header).
  perform 1 from app.contact_identities i where i.contact_id = merge_contacts.duplicate_id order by i.id for update;
  perform 1 from app.contacts c where c.id in (merge_contacts.contact_id, merge_contacts.duplicate_id)
    order by c.id for no key update;
  perform 1 from app.conversations v where v.contact_id = merge_contacts.duplicate_id order by v.id for no key update;
  select * into keep from app.contacts c where c.id = merge_contacts.contact_id;
  select * into gone from app.contacts c where c.id = merge_contacts.duplicate_id;
  if keep.merged_into is not null or gone.merged_into is not null then
    raise exception 'that contact was already merged into another one' using errcode = '22023';
  end if;

  select string_agg(distinct case i.channel when 'slack' then 'Slack' else 'WhatsApp' end, ' and ') into clash
  from app.contact_identities i
  where i.contact_id = gone.id and i.channel in ('slack', 'whatsapp')
    and exists (select 1 from app.contact_identities j where j.contact_id = keep.id and j.channel = i.channel);
  if clash is not null then
    raise exception 'both contacts have their own % account, and replies there go to one account per contact: they cannot be merged', clash
      using errcode = '23505';
  end if;

  -- The duplicate wrote nothing before it or its oldest identity existed: that bounds the
  -- messages read to the tenant's since then (messages_tenant_created_idx).
  select least(gone.created_at, min(i.created_at)) into since from app.contact_identities i where i.contact_id = gone.id;
  update app.contact_identities i set contact_id = keep.id where i.contact_id = gone.id;
  get diagnostics identities = row_count;
  update app.conversations v set contact_id = keep.id where v.contact_id = gone.id;
  get diagnostics conversations = row_count;
  update app.messages m set author_contact_id = keep.id
  where m.tenant_id = tenant and m.created_at >= since and m.author_contact_id = gone.id;
  get diagnostics messages = row_count;
  update app.memories y set contact_id = keep.id where y.tenant_id = tenant and y.contact_id = gone.id;
  get diagnostics memories = row_count;
  -- Contacts merged into the duplicate earlier now lead to the survivor too.
  update app.contacts c set merged_into = keep.id where c.merged_into = gone.id;
  update app.contacts c set
    display_name = coalesce(c.display_name, gone.display_name),
    email = coalesce(c.email, gone.email),
    phone = coalesce(c.phone, gone.phone),
    avatar_url = coalesce(c.avatar_url, gone.avatar_url),
    metadata = gone.metadata || c.metadata
  where c.id = keep.id
  returning * into keep;
  update app.contacts c set merged_into = keep.id where c.id = gone.id;

  perform app.write_audit(tenant, 'contact.merged', 'contact', keep.id::text, jsonb_build_object(
    'merged_contact_id', gone.id, 'merged_name', gone.display_name, 'identities', identities,
    'conversations', conversations, 'messages', messages, 'memories', memories));
  return jsonb_build_object('id', keep.id, 'merged_contact_id', gone.id, 'display_name', keep.display_name,
    'identities', identities, 'conversations', conversations, 'messages', messages, 'memories', memories);
end
$$;
comment on function api.merge_contacts(uuid, uuid) is 'Merges duplicate_id into contact_id (same tenant): moves its identities, conversations, authored messages and memories, fills the survivor''s missing name, email, phone and avatar, marks the duplicate merged_into. 23505 when both have a Slack or a WhatsApp identity; P0002 for a contact the caller cannot see. Audited (contact.merged). Owners and admins.';
revoke all on function api.merge_contacts(uuid, uuid) from public, anon, authenticated;
grant execute on function api.merge_contacts(uuid, uuid) to authenticated;

-- The list leaves merged contacts out; a merged contact's page says where it went.
create or replace function api.list_contacts(tenant_id uuid, search text default null, before_created_at timestamptz default null,
  before_id uuid default null, page_size integer default 50)
returns table (id uuid, display_name text, email text, avatar_url text, channels text[], created_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
declare
  pattern text := nullif(btrim(coalesce(list_contacts.search, '')), '');
begin
  perform app.require_read(list_contacts.tenant_id, 'contacts');
  if pattern is not null then
    pattern := '%' || replace(replace(replace(pattern, '\', '\\'), '%', '\%'), '_', '\_') || '%';
  end if;
  return query
    select c.id, c.display_name, c.email, c.avatar_url,
      array(select distinct i.channel from app.contact_identities i where i.contact_id = c.id order by 1),
      c.created_at
    from app.contacts c
    where c.tenant_id = list_contacts.tenant_id
      and c.merged_into is null
      and (list_contacts.before_created_at is null
           or (c.created_at, c.id) < (list_contacts.before_created_at, coalesce(list_contacts.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
      and (pattern is null or c.display_name ilike pattern or c.email ilike pattern
           or exists (select 1 from app.contact_identities i where i.contact_id = c.id and i.display_name ilike pattern))
    order by c.created_at desc, c.id desc
    limit least(greatest(coalesce(list_contacts.page_size, 50), 1), 200);
end
$$;

create or replace function api.get_contact(contact_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  contact_tenant uuid := app.contact_tenant(get_contact.contact_id);
begin
  perform app.require_read(contact_tenant, 'contact');
  return (
    select jsonb_build_object(
      'id', c.id, 'tenant_id', c.tenant_id, 'display_name', c.display_name, 'email', c.email, 'phone', c.phone,
      'avatar_url', c.avatar_url, 'created_at', c.created_at, 'merged_into', c.merged_into,
      'identities', coalesce((
        select jsonb_agg(jsonb_build_object('id', i.id, 'channel', i.channel, 'external_user_id', i.external_user_id,
          'display_name', i.display_name, 'avatar_url', i.avatar_url, 'created_at', i.created_at) order by i.created_at)
        from app.contact_identities i where i.contact_id = c.id), '[]'::jsonb),
      'conversations', coalesce((
        select jsonb_agg(jsonb_build_object('id', v.id, 'channel', v.channel, 'connection_name', cc.name,
          'status', v.status, 'last_message_at', v.last_message_at, 'last_message_preview', v.last_message_preview)
          order by v.last_message_at desc nulls last, v.id)
        from (select * from app.conversations x where x.contact_id = c.id
              order by x.last_message_at desc nulls last, x.id limit 100) v
        left join app.channel_connections cc on cc.id = v.connection_id), '[]'::jsonb),
      'memories', coalesce((
        select jsonb_agg(jsonb_build_object('id', m.id, 'content', m.content, 'agent_id', m.agent_id,
          'agent_name', a.name, 'created_at', m.created_at) order by m.created_at desc, m.id)
        from (select * from app.memories y where y.tenant_id = c.tenant_id and y.contact_id = c.id
              order by y.created_at desc, y.id limit 200) m
        left join app.agents a on a.id = m.agent_id), '[]'::jsonb))
    from app.contacts c where c.id = get_contact.contact_id
  );
end
$$;
comment on function api.get_contact(uuid) is 'A contact with its channel identities, its newest 100 conversations and newest 200 memories, and merged_into (the contact it was merged into, else null). Any member.';
