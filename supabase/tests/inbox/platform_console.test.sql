-- The platform console: platform admins granted by the service role; every tenant with
-- plan, usage and cost; suspend (agents answer with a polite notice, the tenant's admins
-- are told) and resume; support access recorded in the tenant's own audit log.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(16);

select tests.become('service');
select is(api.grant_platform_admin('INVITEE@tests.konstruct.local'), tests.uid('invitee'), 'the service role grants by email');
select throws_ok($$select api.grant_platform_admin('nobody@tests.konstruct.local')$$, 'P0002', null, 'an unknown email is refused');
reset role;
select tests.become('invitee');
select is((api.whoami() ->> 'is_platform_admin')::boolean, true, 'the new platform admin is one');
reset role;

select tests.become('platform');
select set_eq($$select slug from api.platform_list_tenants() where slug in ('tenant-a', 'tenant-b')$$,
  array['tenant-a', 'tenant-b'], 'the console lists every tenant');
select is((select member_count from api.platform_list_tenants() where slug = 'tenant-a'), 4::bigint,
  'with its members');
select is((select cost_this_period from api.platform_list_tenants() where slug = 'tenant-a'), 0.001::numeric,
  'and its cost this period');
select is((select count(*)::int from api.platform_list_tenants(page_size => 1)), 1, 'pages by keyset');
select is(jsonb_array_length(api.platform_get_tenant(tests.get('tenant')::uuid) -> 'channels'), 2, 'a tenant''s channels');

reset role;
-- A reply job queued before the suspension.
select tests.become('service');
insert into tests.fx
select 'queued', api.ingest_message(tests.get('web_channel')::uuid, 'susp-0', 'visitor-q', 'visitor-q', 'Queued?', 'Q') ->> 'message_id';
reset role;
select tests.become('platform');
select api.begin_support_access(tests.get('tenant')::uuid, 'ticket 42');
select api.suspend_tenant(tests.get('tenant')::uuid, 'spam reports');
reset role;
select ok(exists (select 1 from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'support.access_started'
    and details ->> 'reason' = 'ticket 42'), 'support access is recorded in the tenant''s audit log');
select ok(exists (select 1 from realtime.messages m where m.topic = 'tenant:' || tests.get('tenant') and m.event = 'alert'
    and m.payload ->> 'kind' = 'tenant_suspended'), 'the tenant''s admins are told live');
select tests.become('owner');
select is((api.get_tenant_suspension(tests.get('tenant')::uuid) ->> 'reason'), 'spam reports', 'and see why');
reset role;

select tests.become('service');
select is((api.ingest_message(tests.get('web_channel')::uuid, 'susp-1', 'visitor-s', 'visitor-s', 'Hello?', 'S') ->> 'job_id'),
  null, 'a suspended tenant''s agent does not answer');
reset role;
select ok(exists (select 1 from app.messages m where m.tenant_id = tests.get('tenant')::uuid and m.author_kind = 'system'
    and m.text like 'Sorry, this assistant is not available right now%'), 'the customer gets a polite notice');

select tests.become('service');
select is(api.enforce_reply_entitlement(tests.get('tenant')::uuid, m.conversation_id, m.id, 'reply:' || m.id) ->> 'reason',
  'suspended', 'a reply job queued before the suspension is refused when the worker reaches it')
from app.messages m where m.id = tests.get('queued')::uuid;
reset role;
select is((select m.text from app.messages m join app.messages q on q.conversation_id = m.conversation_id
    where q.id = tests.get('queued')::uuid and m.direction = 'out' and m.metadata ->> 'mode' = 'suspended'),
  'Sorry, this assistant is not available right now. The team will get back to you here.',
  'and its customer gets the same polite notice instead of an answer');

select tests.become('platform');
select api.resume_tenant(tests.get('tenant')::uuid);
reset role;
select tests.become('service');
select isnt((api.ingest_message(tests.get('web_channel')::uuid, 'susp-2', 'visitor-s', 'visitor-s', 'Still there?', 'S') ->> 'job_id'),
  null, 'after resuming, the agent answers again');
reset role;

select * from finish();
rollback;
