-- One call per WhatsApp message instead of two.
--
-- whatsapp-webhook resolved the number (api.resolve_whatsapp_connection) and then stored the
-- message (api.ingest_message): two requests through the Data API and two transactions per
-- delivery before Meta gets its 200. api.ingest_whatsapp_message does both in one call, with
-- the same rules:
--   * a number routes only to the connection that proved control of it, and only when the
--     delivery names that connection's business account (the webhook's entry id): an
--     unproven claim, another account's delivery or an unknown number stores nothing
--     (unknown_number);
--   * a disabled connection stores nothing (disabled);
--   * else api.ingest_message itself, unchanged (idempotent on the wamid, counting, reply
--     job), its answer plus outcome 'ingested' and the connection id.
-- No other tenant can be reached: a proven phone_number_id is unique across the platform
-- (channel_connections_whatsapp_number_key), and the business account must match.

create function api.ingest_whatsapp_message(
  phone_number_id text,
  business_account_id text,
  external_id text,
  external_user_id text,
  text text default null,
  user_display_name text default null,
  attachments jsonb default '[]'::jsonb,
  channel_context jsonb default '{}'::jsonb,
  metadata jsonb default '{}'::jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn record;
  stored jsonb;
begin
  select c.id, c.tenant_id, c.status into conn
  from app.channel_connections c
  where c.whatsapp_phone_number_id = ingest_whatsapp_message.phone_number_id
    and c.whatsapp_business_account_id = ingest_whatsapp_message.business_account_id
    and c.whatsapp_verified_at is not null;
  if not found then
    return jsonb_build_object('outcome', 'unknown_number');
  end if;
  if conn.status <> 'active' then
    return jsonb_build_object('outcome', 'disabled', 'connection_id', conn.id, 'tenant_id', conn.tenant_id);
  end if;
  -- One running conversation per customer and business number: the thread is the sender.
  stored := api.ingest_message(conn.id, ingest_whatsapp_message.external_id, ingest_whatsapp_message.external_user_id,
    ingest_whatsapp_message.external_user_id, ingest_whatsapp_message.text, ingest_whatsapp_message.user_display_name,
    ingest_whatsapp_message.attachments, ingest_whatsapp_message.channel_context, ingest_whatsapp_message.metadata);
  return stored || jsonb_build_object('outcome', 'ingested', 'connection_id', conn.id);
end
$$;
comment on function api.ingest_whatsapp_message(text, text, text, text, text, text, jsonb, jsonb, jsonb) is 'whatsapp-webhook in one call: routes a WhatsApp message by phone_number_id and the delivery''s business account to the connection that proved control of that number (as api.resolve_whatsapp_connection) and stores it with api.ingest_message, the sender being the thread. outcome: unknown_number (unknown, unproven or another account''s: nothing stored); disabled (nothing stored); ingested (api.ingest_message''s answer plus connection_id). service_role.';
revoke all on function api.ingest_whatsapp_message(text, text, text, text, text, text, jsonb, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function api.ingest_whatsapp_message(text, text, text, text, text, text, jsonb, jsonb, jsonb)
  to service_role;
