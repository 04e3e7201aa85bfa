-- The platform behaviour the product relies on, asserted the same way on Supabase
-- (`supabase test db`, and CI's rebuilt hosted database) and on the local stack's shim
-- (local/platform.sql): pg_cron's schedule syntax, pg_net's http_post, realtime.send and
-- realtime.messages, and the API roles. A local difference fails here.
begin;
create extension if not exists pgtap with schema extensions;
select plan(43);

-- pg_cron: what it accepts, and what it refuses with its own error --------------------------
create function pg_temp.schedule_outcome(schedule text) returns text language plpgsql as $$
begin
  perform cron.schedule('konstruct-parity-probe', schedule, 'select 1');
  perform cron.unschedule('konstruct-parity-probe');
  return 'ok';
exception when others then
  return sqlstate || ' ' || sqlerrm;
end
$$;

select is(pg_temp.schedule_outcome(s), 'ok', format('pg_cron accepts %L', s))
from unnest(array['* * * * *', '*/5 * * * *', '0 4 * * 1-5', '30 2 1,15 * *', '0 0 $ * *', '0 9 * jan-mar mon',
  '1-10/2 * * * *', '@daily', '@hourly', '1 seconds', '59 seconds', '30 second', '10seconds', '* * * * * ignored']) s;

select is(pg_temp.schedule_outcome(s), '22023 invalid schedule: ' || s, format('pg_cron refuses %L', s))
from unnest(array['60 seconds', '0 seconds', '30 seconds later', 'every tuesday', '* * * *', '60 * * * *',
  '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '5/10 * * * *', '*/0 * * * *', '@fortnightly', '']) s;

-- pg_net: the signature and defaults, as the caller, Content-Type, params, a readable queue ----
select is(pg_get_function_arguments('net.http_post(text, jsonb, jsonb, jsonb, integer)'::regprocedure),
  'url text, body jsonb DEFAULT ''{}''::jsonb, params jsonb DEFAULT ''{}''::jsonb, headers jsonb DEFAULT ''{"Content-Type": "application/json"}''::jsonb, timeout_milliseconds integer DEFAULT 5000',
  'net.http_post has pg_net''s signature and defaults');
select ok(not (select p.prosecdef from pg_proc p where p.oid = 'net.http_post(text, jsonb, jsonb, jsonb, integer)'::regprocedure),
  'net.http_post runs as its caller');
select ok(has_table_privilege('anon', 'net.http_request_queue', 'select')
    and has_table_privilege('authenticated', 'net.http_request_queue', 'select'),
  'every role can read pg_net''s queue (so no secret may be written into it)');
create temp table parity_request as
  select net.http_post('http://127.0.0.1:9/parity', '{"a": 1}'::jsonb, '{"q": "a b"}'::jsonb, '{"X-Test": "1"}'::jsonb) as id;
select is((select q.headers ->> 'Content-Type' from net.http_request_queue q join parity_request r using (id)),
  'application/json', 'headers without a Content-Type get application/json');
select is((select q.url || ' ' || convert_from(q.body, 'UTF8') || ' ' || q.timeout_milliseconds
    from net.http_request_queue q join parity_request r using (id)),
  'http://127.0.0.1:9/parity?q=a%20b {"a": 1} 5000', 'params are percent-encoded into the URL, the body is the JSON text');
select throws_ok($$select net.http_post('http://127.0.0.1:9/x', '{}'::jsonb, '{}'::jsonb, '{"Content-Type": "text/plain"}'::jsonb)$$,
  'P0001', 'Content-Type header must be "application/json"', 'any other Content-Type is refused');

-- Realtime: messages' shape; send and topic as the caller -------------------------------------
select ok((select array_agg(attname::text order by attname) from pg_attribute
    where attrelid = 'realtime.messages'::regclass and attnum > 0 and not attisdropped)
  @> array['binary_payload', 'event', 'extension', 'id', 'inserted_at', 'payload', 'private', 'topic', 'updated_at'],
  'realtime.messages has Supabase''s columns');
select ok(not (select p.prosecdef from pg_proc p where p.oid = 'realtime.send(jsonb, text, text, boolean)'::regprocedure),
  'realtime.send runs as its caller');
select realtime.send('{"n": 1}'::jsonb, 'parity', 'parity:owner', true);
select is((select m.payload ->> 'id' from realtime.messages m where m.topic = 'parity:owner'),
  (select m.id::text from realtime.messages m where m.topic = 'parity:owner'), 'the message id is copied into the payload');
select is(realtime.topic(), 'parity:owner', 'realtime.topic() is the topic just sent to');
set local role authenticated;
select lives_ok($$select realtime.send('{"n": 2}'::jsonb, 'parity', 'parity:caller', true)$$,
  'a caller the policies do not let insert: send does not abort the transaction');
reset role;
select is((select count(*)::integer from realtime.messages m where m.topic = 'parity:caller'), 0,
  'and nothing is broadcast');

-- Roles -------------------------------------------------------------------------------------
select is((select array_agg(r.rolname::text || ':' || r.rolinherit::text || ':' || r.rolbypassrls::text order by r.rolname) from pg_roles r
    where r.rolname in ('anon', 'authenticated', 'service_role')),
  array['anon:true:false', 'authenticated:true:false', 'service_role:true:true'],
  'the API roles inherit, and only service_role bypasses RLS');
select ok((select r.rolcanlogin and not r.rolinherit from pg_roles r where r.rolname = 'authenticator'),
  'authenticator logs in and does not inherit');
select is((select array_agg(r.rolname::text || ' ' || c order by r.rolname) from pg_db_role_setting s
    join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
    where r.rolname in ('anon', 'authenticated') and c like 'statement_timeout=%'),
  array['anon statement_timeout=3s', 'authenticated statement_timeout=8s'],
  'anon and authenticated have Supabase''s statement timeouts');

select * from finish();
rollback;
