-- The platform console shows each tenant's WhatsApp numbers' proof of control, as the
-- tenant's Channels page does: pending, verified, or not verified with the reason.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(5);

create function tests.console_wa() returns jsonb language sql as $$
  select c from jsonb_array_elements(api.platform_get_tenant(tests.get('tenant')::uuid) -> 'channels') c
  where c ->> 'id' = tests.get('wa_channel')
$$;

select tests.become('platform');
select ok((select c ->> 'whatsapp_verified_at' is null and c ->> 'whatsapp_verification_error' is null
  from tests.console_wa() c), 'a number whose check has not run shows as pending');
reset role;

select tests.become('service');
select api.confirm_whatsapp_channel(tests.get('wa_channel')::uuid, array['5559999']);
reset role;
select tests.become('platform');
select is((select c ->> 'whatsapp_verification_error' from tests.console_wa() c),
  'The access token does not reach this phone number in that WhatsApp Business Account.',
  'a failed check shows why');
reset role;

select tests.become('service');
select api.confirm_whatsapp_channel(tests.get('wa_channel')::uuid, array['5550001']);
reset role;
select tests.become('platform');
select ok((select c ->> 'whatsapp_verified_at' is not null and c ->> 'whatsapp_verification_error' is null
  from tests.console_wa() c), 'a passed check shows as verified');
select is((select count(*)::int from jsonb_array_elements(api.platform_get_tenant(tests.get('tenant')::uuid) -> 'channels') c
  where c ? 'token_secret_id'), 0, 'never a token reference');
reset role;

select tests.become('admin');
select throws_ok($$select api.platform_get_tenant(tests.get('tenant')::uuid)$$, '42501', null,
  'a tenant admin is no platform admin');
reset role;

select * from finish();
rollback;
