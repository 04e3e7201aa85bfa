-- Row level security on every tenant-owned table, read and written directly by each persona.
begin;
create extension if not exists pgtap with schema extensions;

-- Test helpers, created inside this file's transaction (rolled back at the end), so
-- the file runs alone under `supabase test db` and under `npm run test:db`.
create schema tests;
grant usage on schema tests to public;
create table tests.people (persona text primary key, user_id uuid, email text);
grant select on tests.people to public;

-- A user in auth.users, remembered under a persona name.
create function tests.create_user(persona text) returns uuid language plpgsql as $$
declare
  uid uuid := gen_random_uuid();
begin
  insert into auth.users (id, email, aud, role) values (uid, persona || '@tests.konstruct.local', 'authenticated', 'authenticated');
  insert into tests.people values (persona, uid, persona || '@tests.konstruct.local');
  return uid;
end $$;
create function tests.uid(persona text) returns uuid language sql stable as $$
  select user_id from tests.people where people.persona = uid.persona
$$;

-- Become a persona for the rest of the transaction (or subtransaction): a user by
-- persona name, 'anon', or 'service'. Undo with `reset role`.
create function tests.become(persona text) returns void language plpgsql as $$
begin
  if persona = 'anon' then
    perform set_config('request.jwt.claims', '{"role": "anon"}', true);
    perform set_config('role', 'anon', true);
  elsif persona = 'service' then
    perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
    perform set_config('role', 'service_role', true);
  else
    perform set_config('request.jwt.claims', (select json_build_object('sub', p.user_id, 'role', 'authenticated',
      'email', p.email)::text from tests.people p where p.persona = become.persona), true);
    perform set_config('role', 'authenticated', true);
  end if;
end $$;

-- Runs sql as a persona and rolls its effects back; returns 'ok' or the SQLSTATE.
create function tests.outcome(persona text, sql text) returns text language plpgsql as $$
begin
  begin
    perform tests.become(persona);
    execute sql;
    raise exception 'rolled back on purpose' using errcode = 'TT000';
  exception when others then
    if sqlstate = 'TT000' then
      return 'ok';
    end if;
    return sqlstate;
  end;
end $$;

-- Runs a query returning one value as a persona, rolled back; the value or the SQLSTATE.
create function tests.value_as(persona text, sql text) returns text language plpgsql as $$
declare
  result text;
begin
  begin
    perform tests.become(persona);
    execute sql into result;
    raise exception using errcode = 'TT000', message = coalesce(result, '<null>');
  exception when others then
    if sqlstate = 'TT000' then
      return sqlerrm;
    end if;
    return sqlstate;
  end;
end $$;

-- Two tenants and every kind of row, named in tests.fx for the tests below:
-- tenant A: owner, admin, operator, member2 (operator); tenant B: stranger (owner);
-- platform: a platform admin in no tenant.
create table tests.fx (key text primary key, value text);
grant select, insert on tests.fx to public;
create function tests.get(name text) returns text language sql stable as $$ select f.value from tests.fx f where f.key = get.name $$;
create function tests.claims(persona text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', tests.uid(persona), 'role', 'authenticated',
    'email', persona || '@tests.konstruct.local')::text, true)
$$;
create function tests.setup_two_tenants() returns void language plpgsql as $$
declare
  a uuid; b uuid; agent jsonb; agent_b jsonb; web jsonb; wa jsonb; web_b jsonb; ing jsonb; ing_b jsonb;
  inv jsonb; src jsonb; src_b jsonb; tc jsonb; msg_out jsonb;
begin
  perform tests.create_user('owner'); perform tests.create_user('admin'); perform tests.create_user('operator');
  perform tests.create_user('member2'); perform tests.create_user('stranger'); perform tests.create_user('platform');
  perform tests.create_user('invitee');
  insert into app.platform_admins (user_id) values (tests.uid('platform'));

  perform tests.claims('owner');
  a := (api.create_tenant('Tenant A', 'tenant-a') ->> 'id')::uuid;
  insert into app.memberships (tenant_id, user_id, role) values
    (a, tests.uid('admin'), 'admin'), (a, tests.uid('operator'), 'operator'), (a, tests.uid('member2'), 'operator');
  agent := api.deploy_agent_template(a, 'customer_support_rep', 'Ava A');
  web := api.create_web_chat_channel(a, 'Web A', (agent ->> 'id')::uuid);
  wa := api.create_whatsapp_channel(a, 'WhatsApp A', '5550001', 'waba-a', 'token-a', null, (agent ->> 'id')::uuid);
  inv := api.create_invitation(a, 'invitee@tests.konstruct.local', 'operator');
  src := api.create_knowledge_source(a, 'Refunds A', 'Refunds are paid within 5 business days in tenant A.');

  perform tests.claims('stranger');
  b := (api.create_tenant('Tenant B', 'tenant-b') ->> 'id')::uuid;
  agent_b := api.deploy_agent_template(b, 'sales_assistant', 'Sam B');
  web_b := api.create_web_chat_channel(b, 'Web B', (agent_b ->> 'id')::uuid);
  src_b := api.create_knowledge_source(b, 'Refunds B', 'Refunds are paid within 10 business days in tenant B.');
  perform set_config('request.jwt.claims', '', true);

  ing := api.ingest_message((web ->> 'id')::uuid, 'ext-a-1', 'visitor-a', 'visitor-a', 'Hello from A', 'Visitor A');
  ing_b := api.ingest_message((web_b ->> 'id')::uuid, 'ext-b-1', 'visitor-b', 'visitor-b', 'Hello from B', 'Visitor B');
  msg_out := api.record_reply(a, (ing ->> 'conversation_id')::uuid, 'Hi, I am Ava', 'job:fixture');
  tc := api.record_tool_call(a, (ing ->> 'conversation_id')::uuid, 'knowledge_search', '{"query": "refunds"}');
  perform api.record_usage(a, 'gpt-4o-mini', 100, 20, 0.001, (agent ->> 'id')::uuid, (ing ->> 'conversation_id')::uuid);
  perform api.record_usage(b, 'gpt-4o-mini', 300, 50, 0.003, (agent_b ->> 'id')::uuid, (ing_b ->> 'conversation_id')::uuid);
  perform api.save_memory(a, (ing ->> 'contact_id')::uuid, (agent ->> 'id')::uuid, 'Prefers email');
  perform api.save_memory(b, (ing_b ->> 'contact_id')::uuid, (agent_b ->> 'id')::uuid, 'Prefers phone');

  insert into tests.fx values
    ('tenant', a::text), ('tenant_b', b::text), ('agent', agent ->> 'id'), ('agent_b', agent_b ->> 'id'),
    ('web_channel', web ->> 'id'), ('wa_channel', wa ->> 'id'), ('web_channel_b', web_b ->> 'id'),
    ('widget_key', web ->> 'widget_key'), ('invitation', inv ->> 'id'), ('invite_token', inv ->> 'token'),
    ('source', src ->> 'id'), ('source_b', src_b ->> 'id'), ('conv', ing ->> 'conversation_id'),
    ('conv_b', ing_b ->> 'conversation_id'), ('message', ing ->> 'message_id'), ('job', ing ->> 'job_id'),
    ('job_b', ing_b ->> 'job_id'), ('contact', ing ->> 'contact_id'), ('contact_b', ing_b ->> 'contact_id'),
    ('reply', msg_out ->> 'message_id'), ('tool_call', tc ->> 'tool_call_id'),
    ('owner', tests.uid('owner')::text), ('admin', tests.uid('admin')::text), ('operator', tests.uid('operator')::text),
    ('member2', tests.uid('member2')::text), ('stranger', tests.uid('stranger')::text);
end $$;

-- Replaces {key} placeholders in sql with fixture values.
create function tests.fill(sql text) returns text language plpgsql stable as $$
declare
  r record;
begin
  for r in select key, value from tests.fx loop
    sql := replace(sql, '{' || r.key || '}', r.value);
  end loop;
  return sql;
end $$;

select tests.setup_two_tenants();

create function tests.count_of(tbl text, tenant_column text, tenant_id text) returns text language plpgsql as $$
declare
  n bigint;
begin
  execute format('select count(*) from app.%I where %I = %L::uuid', tbl, tenant_column, tenant_id) into n;
  return n::text;
end $$;

-- Each tenant-owned table, read directly by each persona (the portal never does this;
-- the api functions run as the caller, so RLS must hold on its own): a member sees
-- exactly its tenant's rows, the stranger exactly tenant B's, anon nothing at all.
create table tests.table_cells as
select c.relname::text as tbl, p.persona, p.ord,
  case when p.persona = 'anon' or not has_any_column_privilege('authenticated', c.oid, 'select') then '42501'
       else '0/' || tests.count_of(c.relname, case when c.relname = 'tenants' then 'id' else 'tenant_id' end,
              case when p.persona = 'stranger' then tests.get('tenant_b') else tests.get('tenant') end)
  end as expected,
  format('select count(*) filter (where %1$I is distinct from %2$L::uuid) || ''/'' || count(*) from app.%3$I',
    case when c.relname = 'tenants' then 'id' else 'tenant_id' end,
    case when p.persona = 'stranger' then tests.get('tenant_b') else tests.get('tenant') end, c.relname) as query
from pg_class c
cross join (values (1, 'owner'), (2, 'admin'), (3, 'operator'), (4, 'stranger'), (5, 'anon')) as p(ord, persona)
where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'
  and (c.relname = 'tenants' or exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id'));

select plan((select count(*)::integer from tests.table_cells) + 21);

-- Tables without any grant to authenticated (service-only) are refused outright.
select is(
  array(select t.tbl from tests.table_cells t where t.persona = 'owner' and t.expected = '0/0' order by 1),
  array[]::text[],
  'the fixture has rows of tenant A in every tenant-owned table users can read');

select is(tests.value_as(t.persona, t.query), t.expected, format('%s read directly by %s', t.tbl, t.persona))
from tests.table_cells t order by t.tbl, t.ord;

-- Writes straight to the tables are refused unless the role and the row allow them.
select is(tests.outcome('operator', tests.fill($$insert into app.agents (tenant_id, name) values ('{tenant}', 'x')$$)),
  '42501', 'an operator cannot insert an agent');
select is(tests.outcome('stranger', tests.fill($$insert into app.agents (tenant_id, name) values ('{tenant}', 'x')$$)),
  '42501', 'a stranger cannot insert an agent into another tenant');
select is(tests.value_as('stranger', tests.fill($$with u as (update app.agents set name = 'pwned' where id = '{agent}' returning 1) select count(*) from u$$)),
  '0', 'a stranger''s update of another tenant''s agent touches nothing');
select is(tests.value_as('operator', tests.fill($$with u as (update app.agents set name = 'x' where id = '{agent}' returning 1) select count(*) from u$$)),
  '0', 'an operator''s update of an agent touches nothing');
select is(tests.value_as('operator', tests.fill($$with d as (delete from app.knowledge_sources where tenant_id = '{tenant}' returning 1) select count(*) from d$$)),
  '0', 'an operator cannot delete knowledge');
select is(tests.value_as('admin', tests.fill($$with u as (update app.agents set name = 'Renamed' where id = '{agent}' returning 1) select count(*) from u$$)),
  '1', 'an admin can update an agent of its tenant');
select is(tests.outcome('admin', tests.fill($$insert into app.memberships (tenant_id, user_id, role) values ('{tenant}', '{stranger}', 'owner')$$)),
  '42501', 'nobody adds a membership directly (only invitations and create_tenant)');
select is(tests.outcome('admin', tests.fill($$update app.memberships set role = 'owner' where tenant_id = '{tenant}' and user_id = '{admin}'$$)),
  '42501', 'an admin cannot make itself owner');
select is(tests.outcome('owner', $$select token_hash from app.invitations$$),
  '42501', 'invitation token hashes are unreadable, even to owners');
select is(tests.outcome('owner', $$select * from app.settings$$), '42501', 'platform settings are unreadable to users');
select is(tests.outcome('owner', tests.fill($$insert into app.audit_log (tenant_id, actor_kind, action) values ('{tenant}', 'member', 'forged')$$)),
  '42501', 'users cannot write the audit log');
select is(tests.outcome('owner', tests.fill($$select app.write_audit('{tenant}', 'forged')$$)),
  '42501', 'users cannot call the audit writer');
select is(tests.outcome('admin', tests.fill($$insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, text) values ('{tenant}', '{conv}', '{web_channel}', 'out', 'agent', 'forged')$$)),
  '42501', 'a member cannot write a message as the agent');
select is(tests.outcome('admin', tests.fill($$insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, author_member_id, text) values ('{tenant}', '{conv}', '{web_channel}', 'out', 'member', '{owner}', 'forged')$$)),
  '42501', 'a member cannot write a message as another member');
select is(tests.outcome('owner', $$select * from vault.decrypted_secrets$$), '42501', 'users cannot read Vault');
select is(tests.outcome('owner', $$select pgmq.send('agent_jobs', '{}'::jsonb)$$), '42501', 'users cannot use the queues directly');
select is(tests.outcome('owner', tests.fill($$select app.enqueue_member_reply('{reply}')$$)), '42501',
  'a user cannot queue a delivery of a message that is not their own reply');
select is(tests.value_as('platform', tests.fill($$select count(distinct tenant_id) from app.agents where tenant_id in ('{tenant}', '{tenant_b}')$$)), '2',
  'a platform admin can read every tenant');
select is(tests.value_as('service', tests.fill($$select count(distinct tenant_id) from app.agents where tenant_id in ('{tenant}', '{tenant_b}')$$)), '2',
  'service_role reads every tenant');
select is(tests.value_as('invitee', $$select count(*) from app.tenants$$), '0',
  'a signed-in user in no tenant sees no tenant (sign-up creates none)');

select * from finish();
rollback;
