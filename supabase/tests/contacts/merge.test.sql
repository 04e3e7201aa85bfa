-- Merging two contacts (api.merge_contacts): an admin makes the widget visitor and the
-- WhatsApp user one person; identities, conversations, authored messages and memories
-- move, the survivor keeps its fields and fills its gaps, the duplicate leaves the list and
-- the merge is audited. Refused, with nothing changed: another tenant's contact, an
-- operator, a stranger, a contact merged with itself or twice, and two identities on the
-- same WhatsApp channel (replies there go to one number per contact).
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(29);

-- Tenant A's WhatsApp user Maria (with an email and a memory), and a second WhatsApp user.
select tests.become('service');
create temp table wa as
select (api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.m1', '15550009', '15550009', 'Hola', 'Maria')
  ->> 'contact_id')::uuid as id,
  (api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.m2', '15550010', '15550010', 'Hello', 'Other') ->> 'contact_id')::uuid as other;
select api.save_memory(tests.get('tenant')::uuid, (select id from wa), tests.get('agent')::uuid, 'Orders on Fridays');
reset role;
grant select on wa to public;
update app.contacts set email = 'maria@example.test', phone = '+15550009' where id = (select id from wa);
insert into tests.fx values ('maria', (select id::text from wa)), ('other_wa', (select other::text from wa));

create temp view state as
select (select count(*) from app.contact_identities where contact_id = tests.get('contact')::uuid) as identities,
  (select count(*) from app.conversations where contact_id = tests.get('contact')::uuid) as conversations,
  (select count(*) from app.memories where contact_id = tests.get('contact')::uuid) as memories,
  (select count(*) from app.contacts where merged_into is not null) as merged,
  (select count(*) from app.audit_log where action = 'contact.merged') as audited;
grant select on state to public;
create temp table before as select * from state;
grant select on before to public;

-- Refusals.
select is(tests.outcome('stranger', tests.fill($$select api.merge_contacts('{contact}', '{maria}')$$)), 'P0002',
  'another tenant''s owner cannot merge this tenant''s contacts (they are not found)');
select is(tests.outcome('stranger', tests.fill($$select api.merge_contacts('{contact_b}', '{maria}')$$)), 'P0002',
  'nor pull one of them into a contact of their own');
select is(tests.outcome('admin', tests.fill($$select api.merge_contacts('{contact}', '{contact_b}')$$)), 'P0002',
  'an admin cannot merge another tenant''s contact into theirs');
select is(tests.outcome('admin', tests.fill($$select api.merge_contacts('{contact_b}', '{contact}')$$)), 'P0002',
  'nor theirs into another tenant''s');
select is(tests.outcome('operator', tests.fill($$select api.merge_contacts('{contact}', '{maria}')$$)), '42501',
  'an operator cannot merge');
select is(tests.outcome('platform', tests.fill($$select api.merge_contacts('{contact}', '{maria}')$$)), '42501',
  'a platform admin (reading, not a member) cannot merge');
select is(tests.outcome('anon', tests.fill($$select api.merge_contacts('{contact}', '{maria}')$$)), '42501',
  'anonymous callers cannot merge');
select is(tests.outcome('admin', tests.fill($$select api.merge_contacts('{contact}', '{contact}')$$)), '22023',
  'a contact is not merged with itself');
select is(tests.outcome('admin', tests.fill($$select api.merge_contacts('{other_wa}', '{maria}')$$)), '23505',
  'two WhatsApp numbers would collide on one contact: refused');
select tests.become('admin');
select throws_ok(tests.fill($$select api.merge_contacts('{other_wa}', '{maria}')$$), '23505',
  'both contacts have their own WhatsApp account, and replies there go to one account per contact: they cannot be merged',
  'the collision is explained');
reset role;
select ok((select s::text = b::text from state s, before b), 'nothing changed after the refusals');

-- An admin merges Maria (WhatsApp) into the widget visitor.
select tests.become('admin');
create temp table merged as select api.merge_contacts(tests.get('contact')::uuid, tests.get('maria')::uuid) as r;
reset role;
select is((select r ->> 'identities' from merged), '1', 'her WhatsApp identity moved');
select is((select r ->> 'conversations' from merged), '1', 'her conversation moved');
select is((select r ->> 'memories' from merged), '1', 'her memory moved');
select is((select r ->> 'messages' from merged), '1', 'the message she wrote names the survivor');
select is((select array_agg(channel order by channel) from app.contact_identities where contact_id = tests.get('contact')::uuid),
  array['web_chat', 'whatsapp'], 'the survivor has both channels');
select is((select count(*)::int from app.messages where author_contact_id = tests.get('maria')::uuid), 0,
  'no message is left authored by the duplicate');
select is((select display_name || ' ' || email || ' ' || phone from app.contacts where id = tests.get('contact')::uuid),
  'Visitor A maria@example.test +15550009', 'the survivor keeps its name and takes the email and phone it lacked');
select is((select merged_into from app.contacts where id = tests.get('maria')::uuid), tests.get('contact')::uuid,
  'the duplicate says where it went');
select tests.become('operator');
select is((select array_agg(display_name order by display_name) from api.list_contacts(tests.get('tenant')::uuid)),
  array['Other', 'Visitor A'], 'the list no longer shows the duplicate');
select is(api.get_contact(tests.get('maria')::uuid) ->> 'merged_into', tests.get('contact'),
  'its page leads to the survivor');
select is((select jsonb_array_length(api.get_contact(tests.get('contact')::uuid) -> 'memories')), 2,
  'the survivor''s page shows both people''s memories');
reset role;
select is((select details ->> 'merged_contact_id' from app.audit_log where action = 'contact.merged'
  and entity_id = tests.get('contact')), tests.get('maria'), 'the merge is audited');
select is(tests.outcome('admin', tests.fill($$select api.merge_contacts('{other_wa}', '{maria}')$$)), '22023',
  'a merged contact is not merged again');

-- Her next WhatsApp message reaches the survivor.
select tests.become('service');
select is((api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.m3', '15550009', '15550009', 'Me again', 'Maria')
  ->> 'contact_id'), tests.get('contact'), 'her next message is the survivor''s');
reset role;

-- A memory the worker saves for the merged contact (it read the conversation just before
-- the merge) lands on the survivor.
select tests.become('service');
select api.save_memory(tests.get('tenant')::uuid, tests.get('maria')::uuid, tests.get('agent')::uuid, 'Pays by card');
reset role;
select is((select contact_id from app.memories where content = 'Pays by card'), tests.get('contact')::uuid,
  'a memory saved for the merged contact is the survivor''s');
select is(tests.outcome('service', tests.fill($$select api.save_memory('{tenant_b}', '{maria}', '{agent_b}', 'x')$$)), '42501',
  'and is still refused under another tenant');

-- Everything that points at a contact is something the merge moves (a new reference to
-- app.contacts fails here until api.merge_contacts moves it too).
select is(
  array(select c.conrelid::regclass::text || '.' || a.attname from pg_constraint c
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[array_length(c.conkey, 1)]
        where c.contype = 'f' and c.confrelid = 'app.contacts'::regclass order by 1),
  array['app.contact_identities.contact_id', 'app.contacts.merged_into', 'app.conversations.contact_id',
    'app.memories.contact_id', 'app.messages.author_contact_id'],
  'every reference to a contact is one the merge moves');
select ok((select count(*) = 0 from app.contacts c join app.contacts d on d.id = c.merged_into where d.tenant_id <> c.tenant_id),
  'a contact is only ever merged within its tenant');

select * from finish();
rollback;
