-- The Channels page shows whether a WhatsApp number's proof of control succeeded (issue 14,
-- item 1; issue 15): the worker checks it after the channel is connected or its token
-- changes (api.confirm_whatsapp_channel), seconds later, so the outcome is broadcast to the
-- tenant's members as channel_changed and the page follows it without reloading.
-- api.list_channels returns the same two columns.

create function app.broadcast_channel_verification()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object(
      'id', new.id, 'tenant_id', new.tenant_id, 'kind', new.kind,
      'whatsapp_verified_at', new.whatsapp_verified_at,
      'whatsapp_verification_error', new.whatsapp_verification_error
    ),
    'channel_changed',
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_channel_verification() is 'After-update trigger on channel connections: broadcasts channel_changed (the WhatsApp proof of control: whatsapp_verified_at, whatsapp_verification_error; never a token) to tenant:<tenant_id> when it changes.';
revoke all on function app.broadcast_channel_verification() from public, anon, authenticated;

create trigger channel_connections_verification_broadcast after update of whatsapp_verified_at, whatsapp_verification_error
  on app.channel_connections
  for each row
  when (old.whatsapp_verified_at is distinct from new.whatsapp_verified_at
    or old.whatsapp_verification_error is distinct from new.whatsapp_verification_error)
  execute function app.broadcast_channel_verification();
