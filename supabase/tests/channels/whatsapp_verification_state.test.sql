-- What the Channels page shows of a WhatsApp number's proof of control: api.list_channels
-- says pending, proved or why not, and each outcome reaches the tenant's members live
-- (channel_changed), never another tenant's.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(8);

create function tests.wa_row() returns table (verified_at timestamptz, error text) language sql as $$
  select l.whatsapp_verified_at, l.whatsapp_verification_error
  from api.list_channels(tests.get('tenant')::uuid) l where l.id = tests.get('wa_channel')::uuid
$$;
create function tests.channel_events() returns bigint language sql as $$
  select count(*) from realtime.messages m where m.event = 'channel_changed' and m.payload ->> 'id' = tests.get('wa_channel')
$$;

select tests.become('operator');
select ok((select r.verified_at is null and r.error is null from tests.wa_row() r), 'a new number is pending its check');
reset role;

-- The token does not reach the number.
select tests.become('service');
select api.confirm_whatsapp_channel(tests.get('wa_channel')::uuid, array['5559999']);
reset role;
select tests.become('operator');
select is((select r.error from tests.wa_row() r),
  'The access token does not reach this phone number in that WhatsApp Business Account.', 'a failed check says why');
reset role;
select is(tests.channel_events(), 1::bigint, 'and reaches the page live');
select ok(exists (select 1 from realtime.messages m where m.event = 'channel_changed'
    and m.topic = 'tenant:' || tests.get('tenant') and m.payload ->> 'whatsapp_verification_error' is not null
    and not m.payload ? 'token_secret_id'), 'on the tenant''s own topic, without any secret');

-- Then it does.
select tests.become('service');
select api.confirm_whatsapp_channel(tests.get('wa_channel')::uuid, array['5550001']);
reset role;
select tests.become('operator');
select ok((select r.verified_at is not null and r.error is null from tests.wa_row() r), 'a passed check shows as proved');
reset role;
select is(tests.channel_events(), 2::bigint, 'live too');

-- A check with the same outcome again changes nothing and says nothing.
select tests.become('service');
select api.confirm_whatsapp_channel(tests.get('wa_channel')::uuid, array['5550001']);
reset role;
select is(tests.channel_events(), 2::bigint, 'an unchanged outcome is not broadcast again');

select tests.become('stranger');
select is((select count(*) from api.list_channels(tests.get('tenant_b')::uuid) l
  where l.id = tests.get('wa_channel')::uuid), 0::bigint, 'another tenant never sees it');
reset role;

select * from finish();
rollback;
