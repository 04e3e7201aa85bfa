-- Contacts: names from channel profiles (kept once an admin renames), the contact page's
-- identities, conversations and memories, keyset paging and search, memory deletion
-- audited, and isolation: another tenant's admin cannot read, rename or delete, a visitor
-- names only itself.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(34);

-- A WhatsApp user who wrote without a profile name: unnamed until the profile arrives.
select tests.become('service');
create temp table wa as
select (api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.c1', '15550009', '15550009', 'Hola') ->> 'contact_id')::uuid as id;
reset role;
grant select on wa to public;
-- One transaction has one now(): make Maria the newer contact.
update app.contacts set created_at = created_at + interval '1 minute' where id = (select id from wa);
select is((select display_name from app.contacts where id = (select id from wa)), null, 'a contact without a profile has no name');

select tests.become('service');
select is(api.identity_profile_needed(tests.get('tenant')::uuid, 'whatsapp', '15550009'), true,
  'its profile has never been looked up');
select api.record_contact_profile(tests.get('tenant')::uuid, 'whatsapp', '15550009', 'Maria Lopez',
  'https://avatars.slack-edge.com/2026-01-01/1_72.png');
select is(api.identity_profile_needed(tests.get('tenant')::uuid, 'whatsapp', '15550009'), false,
  'once looked up it is not asked again');
select throws_ok($$select api.record_contact_profile(tests.get('tenant_b')::uuid, 'whatsapp', '15550009', 'X')$$,
  'P0002', null, 'a profile for an identity of another tenant is refused');
select api.record_contact_profile(tests.get('tenant')::uuid, 'whatsapp', '15550009', null, 'http://tracker.example/p.png');
reset role;
select is((select display_name from app.contacts where id = (select id from wa)), 'Maria Lopez', 'the contact takes the profile name');
select is((select avatar_url from app.contact_identities where external_user_id = '15550009'),
  'https://avatars.slack-edge.com/2026-01-01/1_72.png', 'an http avatar never replaces an https one');

-- An admin renames; a later profile does not undo it.
select tests.become('admin');
select is(api.rename_contact((select id from wa), '  Maria L.  ') ->> 'display_name', 'Maria L.', 'an admin renames a contact');
reset role;
select tests.become('service');
select api.record_contact_profile(tests.get('tenant')::uuid, 'whatsapp', '15550009', 'maria_l');
reset role;
select is((select display_name from app.contacts where id = (select id from wa)), 'Maria L.', 'a later profile keeps the admin''s name');
select is((select display_name from app.contact_identities where external_user_id = '15550009'), 'maria_l',
  'the identity shows the channel''s current name');
select is((select count(*)::int from app.audit_log where action = 'contact.renamed' and entity_id = (select id::text from wa)), 1,
  'the rename is audited');
select is(tests.outcome('admin', $$select api.rename_contact('$$ || (select id from wa) || $$', '   ')$$), '22023',
  'an empty name is refused');

-- The contact page.
select tests.become('operator');
select is(api.get_contact(tests.get('contact')::uuid) ->> 'display_name', 'Visitor A', 'a member opens a contact');
select is(jsonb_array_length(api.get_contact(tests.get('contact')::uuid) -> 'identities'), 1, 'with its identities');
select is(api.get_contact(tests.get('contact')::uuid) #>> '{conversations,0,id}', tests.get('conv'),
  'with its conversations');
select is(api.get_contact(tests.get('contact')::uuid) #>> '{memories,0,content}', 'Prefers email', 'and its memories');

-- The list: newest first, keyset paging, search by name.
select is((select array_agg(display_name order by created_at desc, id desc) from api.list_contacts(tests.get('tenant')::uuid)),
  array['Maria L.', 'Visitor A'], 'the list shows the tenant''s contacts only, newest first');
select is((select count(*)::int from api.list_contacts(tests.get('tenant')::uuid, null,
  (select created_at from app.contacts where id = (select id from wa)), (select id from wa))), 1,
  'the next page starts after the last row');
select is((select array_agg(display_name) from api.list_contacts(tests.get('tenant')::uuid, 'MARIA')), array['Maria L.'],
  'search matches a name in any case');
select is((select array_agg(display_name) from api.list_contacts(tests.get('tenant')::uuid, 'maria_')), array['Maria L.'],
  'search matches a channel''s name too; _ is a letter, not a wildcard');
select is((select count(*)::int from api.list_contacts(tests.get('tenant')::uuid, '%')), 0, '% is a letter, not a wildcard');
reset role;

-- Isolation: another tenant's admin.
select is(tests.outcome('stranger', $$select api.get_contact('$$ || tests.get('contact') || $$')$$), 'P0002',
  'another tenant''s admin cannot read a contact');
select is(tests.outcome('stranger', $$select api.rename_contact('$$ || tests.get('contact') || $$', 'Hijacked')$$), 'P0002',
  'nor rename it');
select is(tests.outcome('stranger', $$select api.delete_memory('$$ || tests.get('memory') || $$')$$), 'P0002',
  'nor delete its memory');
select is(tests.outcome('operator', $$select api.delete_memory('$$ || tests.get('memory') || $$')$$), '42501',
  'an operator cannot delete a memory');

-- An admin forgets a memory: gone, and audited with what was forgotten.
select tests.become('admin');
select api.delete_memory(tests.get('memory')::uuid);
reset role;
select is((select count(*)::int from app.memories where id = tests.get('memory')::uuid), 0, 'the memory is gone');
select is((select details ->> 'content' from app.audit_log where action = 'memory.deleted' and entity_id = tests.get('memory')),
  'Prefers email', 'its deletion is audited with what was forgotten');

-- A visitor names itself (pre-chat form), only itself, and only as an anonymous session.
insert into auth.users (id, email, aud, role, is_anonymous)
values ('00000000-0000-4000-8000-00000000a001', null, 'authenticated', 'authenticated', true);
do $$ begin
  perform set_config('request.jwt.claims', json_build_object('sub', '00000000-0000-4000-8000-00000000a001',
    'role', 'authenticated', 'is_anonymous', true)::text, true);
end $$;
set local role authenticated;
select is(api.set_visitor_profile(tests.get('widget_key'), 'Dana Visitor', 'Dana@Example.test') ->> 'email',
  'dana@example.test', 'a visitor gives its name and email');
reset role;
select is((select c.display_name || ' ' || c.email from app.contact_identities i join app.contacts c on c.id = i.contact_id
  where i.external_user_id = '00000000-0000-4000-8000-00000000a001'), 'Dana Visitor dana@example.test',
  'its own contact carries them');
select tests.become('service');
select is((api.ingest_message(tests.get('web_channel')::uuid, 'ext-dana', '00000000-0000-4000-8000-00000000a001',
  '00000000-0000-4000-8000-00000000a001', 'Hi', null) ->> 'contact_id')::uuid,
  (select contact_id from app.contact_identities where external_user_id = '00000000-0000-4000-8000-00000000a001'),
  'its first message finds that contact');
reset role;
select is((select count(*)::int from app.contacts where display_name = 'Dana Visitor'
  and id <> (select contact_id from app.contact_identities where external_user_id = '00000000-0000-4000-8000-00000000a001')), 0,
  'no other visitor''s contact was named');

-- A Slack user is looked up once, the first time they are seen: in a conversation of their
-- own or inside another's thread. The job is queued as the message's transaction commits
-- (a deferred trigger): `set constraints … immediate` stands in for the commit here.
select tests.become('service');
create temp table slack_conn as
select (api.save_slack_installation(tests.get('tenant')::uuid, 'T0CONTACTS', 'U0BOT', 'xoxb-contacts') ->> 'connection_id')::uuid as id;
select api.ingest_message((select id from slack_conn), 'sl-1', 'C1:1.1', 'U0ADA', 'Hi');
reset role;
grant select on slack_conn to public;
create temp view profile_jobs as
select message ->> 'external_user_id' as who, message ->> 'connection_id' as connection from pgmq.q_agent_jobs
where message ->> 'kind' = 'contact_profile';
grant select on profile_jobs to public;
select is((select count(*)::int from profile_jobs), 0, 'nothing is queued before the message''s transaction commits');
set constraints app.contact_identities_enqueue_profile immediate;
set constraints app.contact_identities_enqueue_profile deferred;
select is((select count(*)::int from profile_jobs where who = 'U0ADA' and connection = (select id::text from slack_conn)), 1,
  'a new Slack user''s conversation queues a profile lookup on its connection');
select tests.become('service');
select api.ingest_message((select id from slack_conn), 'sl-b1', 'C1:1.1', 'U0BEA', 'Jumping into this thread');
reset role;
set constraints app.contact_identities_enqueue_profile immediate;
set constraints app.contact_identities_enqueue_profile deferred;
select is((select count(*)::int from profile_jobs where who = 'U0BEA' and connection = (select id::text from slack_conn)), 1,
  'a Slack user first seen inside another''s thread is looked up too');
select tests.become('service');
select api.ingest_message((select id from slack_conn), 'sl-2', 'C1:1.1', 'U0ADA', 'Still there?');
select api.ingest_message((select id from slack_conn), 'sl-b2', 'C1:3.3', 'U0BEA', 'My own thread now');
select api.record_contact_profile(tests.get('tenant')::uuid, 'slack', 'U0ADA', 'Ada L');
select api.ingest_message((select id from slack_conn), 'sl-3', 'C1:2.2', 'U0ADA', 'New thread');
select api.ingest_message(tests.get('web_channel')::uuid, 'web-new', 'visitor-new', 'visitor-new', 'Hello');
reset role;
set constraints app.contact_identities_enqueue_profile immediate;
set constraints app.contact_identities_enqueue_profile deferred;
select is((select array_agg(who order by who) from profile_jobs), array['U0ADA', 'U0BEA'],
  'one lookup per Slack user: none per message or new thread, none for other channels');

select * from finish();
rollback;
