-- Which inbound messages get a reply job (app.reply_jobs, written by app.answer_inbound), and
-- api.reply_superseded_by: an earlier reply job defers only to a newer message that has a reply
-- job of its own, never to one held back (here: over the per-sender inbound rate limit).
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(10);

insert into app.settings (key, value) values ('inbound_rate_limit_per_sender', '2')
on conflict (key) do update set value = excluded.value;

create function tests.ingest_wa(ext text, sender text) returns jsonb language sql as $$
  select api.ingest_message(tests.get('wa_channel')::uuid, ext, sender, sender, 'Message ' || ext, null, '[]', '{}')
$$;

select tests.become('service');
insert into tests.fx select 'm' || i, tests.ingest_wa('rj-' || i, '15550000042')::text from generate_series(1, 3) i;
reset role;

select is(array(select (tests.get('m' || i)::jsonb ->> 'enqueued')::boolean from generate_series(1, 3) i),
  array[true, true, false], 'two messages admitted, the third held back by the rate limit');
select is(array(select r.job_id from app.reply_jobs r
                where r.message_id in (select (tests.get('m' || i)::jsonb ->> 'message_id')::uuid from generate_series(1, 3) i)
                order by r.job_id),
  array[(tests.get('m1')::jsonb ->> 'job_id')::bigint, (tests.get('m2')::jsonb ->> 'job_id')::bigint],
  'each reply job is recorded with its message; the held-back message has none');

select tests.become('service');
select is(api.reply_superseded_by(tests.get('tenant')::uuid, (tests.get('m1')::jsonb ->> 'conversation_id')::uuid,
    (tests.get('m1')::jsonb ->> 'message_id')::uuid),
  (tests.get('m2')::jsonb ->> 'message_id')::uuid, 'the first message defers to the second, which is answered');
select is(api.reply_superseded_by(tests.get('tenant')::uuid, (tests.get('m2')::jsonb ->> 'conversation_id')::uuid,
    (tests.get('m2')::jsonb ->> 'message_id')::uuid),
  null, 'the second is not superseded by the held-back third: its job answers');
select is(api.reply_superseded_by(tests.get('tenant')::uuid, (tests.get('m3')::jsonb ->> 'conversation_id')::uuid,
    (tests.get('m3')::jsonb ->> 'message_id')::uuid),
  null, 'nothing newer than the newest');
select is(api.reply_superseded_by(tests.get('tenant')::uuid, (tests.get('m1')::jsonb ->> 'conversation_id')::uuid,
    gen_random_uuid()), null, 'an unknown message is superseded by nothing');
reset role;

-- A member takes over: a newer message gets no job and supersedes nothing either.
update app.settings set value = 'off' where key = 'inbound_rate_limit_per_sender';
update app.conversations set status = 'human' where id = (tests.get('m1')::jsonb ->> 'conversation_id')::uuid;
select tests.become('service');
insert into tests.fx select 'm4', tests.ingest_wa('rj-4', '15550000042')::text;
select is((tests.get('m4')::jsonb ->> 'enqueued')::boolean, false, 'no reply job while a human has it');
select is(api.reply_superseded_by(tests.get('tenant')::uuid, (tests.get('m2')::jsonb ->> 'conversation_id')::uuid,
    (tests.get('m2')::jsonb ->> 'message_id')::uuid),
  null, 'and it does not supersede the admitted message');
reset role;

-- Closed to others ---------------------------------------------------------------------------------
select is(tests.outcome('service', format('select api.reply_superseded_by(%L, %L, %L)', tests.get('tenant_b'),
    tests.get('m1')::jsonb ->> 'conversation_id', tests.get('m1')::jsonb ->> 'message_id')),
  '42501', 'another tenant''s conversation is refused');
select is(tests.outcome('owner', 'select * from app.reply_jobs'), '42501', 'members cannot read the reply jobs');

select * from finish();
rollback;
