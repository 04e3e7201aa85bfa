-- Row level security on every tenant-owned table, read and written directly by each persona.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

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
