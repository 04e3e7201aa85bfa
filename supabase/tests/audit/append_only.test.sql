-- The audit log is append-only for everyone, and records who changed what.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(12);

-- (`where true`: with pg-safeupdate on, as API sessions have it, an unqualified statement fails earlier.)
select throws_ok($$update app.audit_log set action = 'rewritten' where true$$, '42501', null,
  'the table owner cannot update the audit log');
select throws_ok($$delete from app.audit_log where true$$, '42501', null, 'the table owner cannot delete from the audit log');
select throws_ok($$truncate app.audit_log$$, '42501', null, 'the table owner cannot truncate the audit log');
select is(tests.outcome('service', $$update app.audit_log set action = 'rewritten' where true$$), '42501', 'service_role cannot update it');
select is(tests.outcome('service', $$delete from app.audit_log where true$$), '42501', 'service_role cannot delete from it');
select is(tests.outcome('owner', $$delete from app.audit_log where true$$), '42501', 'a tenant owner cannot delete from it');

-- What gets written.
select ok(exists (select 1 from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'agent.created'
                  and entity_id = tests.get('agent') and actor_user_id = tests.uid('owner') and actor_kind = 'member'),
  'creating an agent is audited with its actor');
select ok(exists (select 1 from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'channel.created'
                  and entity_id = tests.get('wa_channel') and not (details -> 'row' ? 'token_secret_id')),
  'creating a channel is audited, without its secret');
select tests.claims('admin');
select api.update_agent(tests.get('agent')::uuid, '{"monthly_token_budget": 5000}');
select api.assign_channel_agent(tests.get('web_channel')::uuid, null);
select ok(exists (select 1 from app.audit_log where action = 'agent.updated' and entity_id = tests.get('agent')
                  and details -> 'changes' -> 'monthly_token_budget' ->> 'to' = '5000' and actor_user_id = tests.uid('admin')),
  'an agent change is audited with what changed');
select ok(exists (select 1 from app.audit_log where action = 'channel.updated' and entity_id = tests.get('web_channel')),
  'a channel change is audited');
select api.takeover_conversation(tests.get('conv')::uuid);
select ok(exists (select 1 from app.audit_log where action = 'conversation.takeover' and entity_id = tests.get('conv')),
  'a takeover is audited');
select set_config('request.jwt.claims', '', true);
select tests.claims('platform');
select count(*) from api.list_agents(tests.get('tenant')::uuid);
select ok(exists (select 1 from app.audit_log where action = 'platform_admin.read' and tenant_id = tests.get('tenant')::uuid
                  and actor_user_id = tests.uid('platform') and actor_kind = 'platform_admin'),
  'a platform admin''s read of a tenant is audited');

select * from finish();
rollback;
