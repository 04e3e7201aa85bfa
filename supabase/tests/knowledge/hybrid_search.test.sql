-- Hybrid knowledge search: filtered by tenant before ranking, full text without embeddings.
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
select plan(9);

create function tests.unit_vector(i integer) returns extensions.vector language sql immutable as $$
  select (select array_agg(case when g = i then 1.0 else 0.0 end order by g) from generate_series(1, 1536) g)::real[]::extensions.vector
$$;

-- Tenant B holds the passage that is closest to the query in every way: same words,
-- identical embedding. Tenant A holds a weaker match.
update app.knowledge_chunks set embedding = tests.unit_vector(1) where source_id = tests.get('source_b')::uuid;
update app.knowledge_chunks set embedding = tests.unit_vector(2) where source_id = tests.get('source')::uuid;

select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'refunds paid within 10 business days tenant B',
     tests.unit_vector(1), 10) s where s.source_id <> tests.get('source')::uuid
     and s.source_id in (select id from app.knowledge_sources where tenant_id <> tests.get('tenant')::uuid)),
  0, 'hybrid search never returns another tenant''s chunk, even the closest one');
select is(
  (select s.source_id from api.search_knowledge(tests.get('tenant')::uuid, 'refunds paid within 10 business days tenant B',
     tests.unit_vector(1), 10) s limit 1),
  tests.get('source')::uuid, 'it returns the tenant''s own best passage');
select is(
  (select s.source_id from api.search_knowledge(tests.get('tenant_b')::uuid, 'refunds', tests.unit_vector(1), 10) s limit 1),
  tests.get('source_b')::uuid, 'the other tenant finds its own passage');

-- Without embeddings: full text alone.
update app.knowledge_chunks set embedding = null where tenant_id in (tests.get('tenant')::uuid, tests.get('tenant_b')::uuid);
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'refunds business days')),
  1, 'with no embeddings at all, full-text search still answers');
select is(
  (select fts_rank || '/' || coalesce(vector_rank::text, 'none') from api.search_knowledge(tests.get('tenant')::uuid, 'refunds', tests.unit_vector(2))),
  '1/none', 'a query embedding with no embedded chunks falls back to full text');

-- Vector only: a passage with no shared words is found by its embedding.
update app.knowledge_chunks set embedding = tests.unit_vector(3) where source_id = tests.get('source')::uuid;
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'zebra', tests.unit_vector(3))),
  1, 'a semantically close passage is found without shared words');
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'zebra')),
  0, 'and nothing is made up when neither ranking matches');

-- As a member (RLS and the function's own tenant filter together).
select tests.become('stranger');
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant_b')::uuid, 'refunds', tests.unit_vector(3), 10) s
   where s.source_id = tests.get('source')::uuid), 0, 'a member of B searching B never sees A''s passage');
reset role;

select ok(exists (select 1 from pg_indexes where schemaname = 'app' and tablename = 'knowledge_chunks'
                  and indexdef ~ 'USING hnsw \(embedding (extensions\.)?vector_cosine_ops\)'),
  'knowledge chunks have an HNSW cosine index');

select * from finish();
rollback;
