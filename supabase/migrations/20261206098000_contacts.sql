-- Contacts: real names and avatars, one person across channels, what the agents remember.
--
-- A channel identity keeps the profile its channel gave (Slack users.info's name and
-- avatar, fetched once by the agent worker; WhatsApp's profile name arrives with each
-- webhook; a web chat visitor may name themselves in the widget's pre-chat form). The
-- contact takes the first name it learns and keeps an admin's rename. The portal lists
-- contacts by keyset, opens one with its identities, conversations and memories, and an
-- admin may rename a contact or delete a memory (both audited).

alter table app.contacts
  add column avatar_url text check (avatar_url is null or (avatar_url like 'https://%' and length(avatar_url) <= 1000));
alter table app.contact_identities
  add column avatar_url text check (avatar_url is null or (avatar_url like 'https://%' and length(avatar_url) <= 1000)),
  add column profile_fetched_at timestamptz;
comment on column app.contact_identities.profile_fetched_at is 'When the channel''s profile (name, avatar) was last looked up; null = never, so the worker asks once.';

-- The contact page lists a person's conversations newest first; the contacts list pages
-- newest first.
create index conversations_contact_idx on app.conversations (contact_id, last_message_at desc nulls last, id)
  where contact_id is not null;
create index contacts_tenant_created_idx on app.contacts (tenant_id, created_at desc, id desc);

create function app.contact_tenant(contact_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  found_tenant uuid;
begin
  -- RLS decides: a contact of a tenant the caller cannot read is not found.
  select c.tenant_id into found_tenant from app.contacts c where c.id = contact_tenant.contact_id;
  if found_tenant is null then
    raise exception 'contact not found' using errcode = 'P0002';
  end if;
  return found_tenant;
end
$$;
comment on function app.contact_tenant(uuid) is 'The tenant of a contact the caller can see; P0002 otherwise.';

-- Audit: what a member forgets or renames (definer triggers, as app.audit_change: the
-- audit log has one writer). A channel's profile naming an unnamed contact is not audited.
create function app.audit_contact_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_table_name = 'memories' then
    perform app.write_audit(old.tenant_id, 'memory.deleted', 'memory', old.id::text,
      jsonb_build_object('contact_id', old.contact_id, 'agent_id', old.agent_id, 'content', old.content));
  elsif app.is_member(new.tenant_id) then
    perform app.write_audit(new.tenant_id, 'contact.renamed', 'contact', new.id::text,
      jsonb_build_object('from', old.display_name, 'to', new.display_name));
  end if;
  return null;
end
$$;
comment on function app.audit_contact_change() is 'After-trigger: audits a deleted memory (with its content) and a member''s rename of a contact.';
create trigger memories_audit_delete after delete on app.memories
  for each row execute function app.audit_contact_change();
create trigger contacts_audit_rename after update of display_name on app.contacts
  for each row when (old.display_name is distinct from new.display_name) execute function app.audit_contact_change();

create function api.list_contacts(tenant_id uuid, search text default null, before_created_at timestamptz default null,
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
      and (list_contacts.before_created_at is null
           or (c.created_at, c.id) < (list_contacts.before_created_at, coalesce(list_contacts.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
      and (pattern is null or c.display_name ilike pattern or c.email ilike pattern
           or exists (select 1 from app.contact_identities i where i.contact_id = c.id and i.display_name ilike pattern))
    order by c.created_at desc, c.id desc
    limit least(greatest(coalesce(list_contacts.page_size, 50), 1), 200);
end
$$;
comment on function api.list_contacts(uuid, text, timestamptz, uuid, integer) is 'A tenant''s contacts, newest first, optionally matching a name or email (any channel''s name); page with the last row''s created_at and id. Any member.';

create function api.get_contact(contact_id uuid)
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
      'avatar_url', c.avatar_url, 'created_at', c.created_at,
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
comment on function api.get_contact(uuid) is 'A contact with its channel identities, its newest 100 conversations and newest 200 memories. Any member.';

create function api.rename_contact(contact_id uuid, display_name text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  contact_tenant uuid := app.contact_tenant(rename_contact.contact_id);
  clean text := nullif(btrim(coalesce(rename_contact.display_name, '')), '');
begin
  perform app.require_role(contact_tenant, 'admin');
  if clean is null or length(clean) > 200 then
    raise exception 'a name has 1 to 200 characters' using errcode = '22023';
  end if;
  update app.contacts c set display_name = clean where c.id = rename_contact.contact_id;
  return jsonb_build_object('id', rename_contact.contact_id, 'display_name', clean);
end
$$;
comment on function api.rename_contact(uuid, text) is 'Renames a contact (1 to 200 characters); a later channel profile never overwrites it. Audited. Owners and admins.';

create function api.delete_memory(memory_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  gone app.memories;
begin
  -- RLS: a memory of a tenant the caller cannot read is not found.
  select * into gone from app.memories m where m.id = delete_memory.memory_id;
  if not found then
    raise exception 'memory not found' using errcode = 'P0002';
  end if;
  perform app.require_role(gone.tenant_id, 'admin');
  delete from app.memories m where m.id = delete_memory.memory_id;
end
$$;
comment on function api.delete_memory(uuid) is 'Forgets one thing an agent remembered about a contact. Audited with what was forgotten. Owners and admins.';

create function api.record_contact_profile(tenant_id uuid, channel text, external_user_id text, display_name text,
  avatar_url text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  clean_name text := left(nullif(btrim(coalesce(record_contact_profile.display_name, '')), ''), 200);
  clean_avatar text := case when record_contact_profile.avatar_url like 'https://%'
    and length(record_contact_profile.avatar_url) <= 1000 then record_contact_profile.avatar_url end;
  identity app.contact_identities;
begin
  update app.contact_identities i set
    display_name = coalesce(clean_name, i.display_name),
    avatar_url = coalesce(clean_avatar, i.avatar_url),
    profile_fetched_at = now()
  where i.tenant_id = record_contact_profile.tenant_id and i.channel = record_contact_profile.channel
    and i.external_user_id = record_contact_profile.external_user_id
  returning * into identity;
  if not found then
    raise exception 'contact identity not found' using errcode = 'P0002';
  end if;
  -- The contact keeps a name it has (an admin's rename, a pre-chat form's); it takes the
  -- first one it learns and an avatar when it has none.
  update app.contacts c set
    display_name = coalesce(c.display_name, clean_name),
    avatar_url = coalesce(c.avatar_url, clean_avatar)
  where c.id = identity.contact_id
    and ((c.display_name is null and clean_name is not null) or (c.avatar_url is null and clean_avatar is not null));
  return jsonb_build_object('contact_id', identity.contact_id, 'display_name', identity.display_name,
    'avatar_url', identity.avatar_url);
end
$$;
comment on function api.record_contact_profile(uuid, text, text, text, text) is 'Stores what a channel says about one of its users (name, https avatar) on the identity, marks it fetched (also when the lookup found nothing: pass null name), and gives an unnamed contact that name. service_role.';

create function api.identity_profile_needed(tenant_id uuid, channel text, external_user_id text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (
    select 1 from app.contact_identities i
    where i.tenant_id = identity_profile_needed.tenant_id and i.channel = identity_profile_needed.channel
      and i.external_user_id = identity_profile_needed.external_user_id and i.profile_fetched_at is null)
$$;
comment on function api.identity_profile_needed(uuid, text, text) is 'True while a channel identity''s profile has never been looked up (the worker then asks the channel once). service_role.';

create function api.set_visitor_profile(widget_key text, display_name text, email text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
-- Definer: a visitor (an anonymous user) has no rights on app tables; it names only the
-- identity whose external id is its own user id, on the widget it holds the key of.
declare
  visitor text := (select auth.uid())::text;
  conn app.channel_connections;
  clean_name text := nullif(btrim(coalesce(set_visitor_profile.display_name, '')), '');
  clean_email text := nullif(lower(btrim(coalesce(set_visitor_profile.email, ''))), '');
  contact uuid;
begin
  if visitor is null or coalesce(((select auth.jwt()) ->> 'is_anonymous')::boolean, false) is not true then
    raise exception 'permission denied: only a web chat visitor names itself' using errcode = '42501';
  end if;
  select * into conn from app.channel_connections c
  where c.kind = 'web_chat' and c.status = 'active' and c.widget_key = set_visitor_profile.widget_key;
  if not found then
    raise exception 'widget not found' using errcode = 'P0002';
  end if;
  if clean_name is null or length(clean_name) > 200 then
    raise exception 'a name has 1 to 200 characters' using errcode = '22023';
  end if;
  if clean_email is not null and (length(clean_email) > 320 or clean_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$') then
    raise exception 'that email address does not look right' using errcode = '22023';
  end if;
  select i.contact_id into contact from app.contact_identities i
  where i.tenant_id = conn.tenant_id and i.channel = 'web_chat' and i.external_user_id = visitor;
  if contact is null then
    insert into app.contacts (tenant_id, display_name, email) values (conn.tenant_id, clean_name, clean_email)
    returning id into contact;
    insert into app.contact_identities (tenant_id, contact_id, channel, external_user_id, display_name, profile_fetched_at)
    values (conn.tenant_id, contact, 'web_chat', visitor, clean_name, now());
  else
    update app.contact_identities i set display_name = clean_name, profile_fetched_at = now()
    where i.tenant_id = conn.tenant_id and i.channel = 'web_chat' and i.external_user_id = visitor;
    update app.contacts c set display_name = clean_name, email = coalesce(clean_email, c.email)
    where c.id = contact;
  end if;
  return jsonb_build_object('display_name', clean_name, 'email', clean_email);
end
$$;
comment on function api.set_visitor_profile(text, text, text) is 'The web chat pre-chat form: the signed-in anonymous visitor gives its own name (and optionally email) on a widget; creates its contact if it has not written yet. Anonymous visitors only (42501 otherwise). Security definer, scoped to the caller''s own identity.';

revoke all on function app.audit_contact_change() from public, anon, authenticated;
revoke all on function app.contact_tenant(uuid) from public, anon;
grant execute on function app.contact_tenant(uuid) to authenticated, service_role;
revoke all on function api.list_contacts(uuid, text, timestamptz, uuid, integer), api.get_contact(uuid),
  api.rename_contact(uuid, text), api.delete_memory(uuid), api.record_contact_profile(uuid, text, text, text, text),
  api.identity_profile_needed(uuid, text, text), api.set_visitor_profile(text, text, text)
  from public, anon, authenticated;
grant execute on function api.list_contacts(uuid, text, timestamptz, uuid, integer), api.get_contact(uuid),
  api.rename_contact(uuid, text), api.delete_memory(uuid), api.set_visitor_profile(text, text, text)
  to authenticated;
grant execute on function api.record_contact_profile(uuid, text, text, text, text),
  api.identity_profile_needed(uuid, text, text) to service_role;
