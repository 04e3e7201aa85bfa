-- The platform console shows each WhatsApp number's proof of control as the tenant's
-- Channels page does (issue 14): verified, still checking, or not verified and why.
-- api.platform_get_tenant adds whatsapp_verified_at and whatsapp_verification_error to each
-- channel (both null for other kinds, and while a number's check is pending).

create or replace function api.platform_get_tenant(tenant_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  result jsonb;
begin
  perform app.require_platform_admin();
  select jsonb_build_object(
    'id', t.id, 'name', t.name, 'slug', t.slug, 'created_at', t.created_at, 'suspended_at', t.suspended_at,
    'suspended_reason', t.suspended_reason, 'billing', app.billing_state(t.id),
    'members', coalesce((select jsonb_agg(jsonb_build_object('user_id', m.user_id, 'email', u.email, 'role', m.role)
        order by u.email) from app.memberships m join auth.users u on u.id = m.user_id where m.tenant_id = t.id), '[]'::jsonb),
    'channels', coalesce((select jsonb_agg(jsonb_build_object('id', c.id, 'kind', c.kind, 'name', c.name,
        'status', c.status, 'agent_id', c.agent_id,
        'whatsapp_display_phone_number', c.whatsapp_display_phone_number,
        'whatsapp_verified_at', c.whatsapp_verified_at,
        'whatsapp_verification_error', c.whatsapp_verification_error) order by c.created_at)
      from app.channel_connections c where c.tenant_id = t.id), '[]'::jsonb))
  into result
  from app.tenants t where t.id = platform_get_tenant.tenant_id;
  if result is null then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  perform app.write_audit(platform_get_tenant.tenant_id, 'support.tenant_viewed', 'tenant',
    platform_get_tenant.tenant_id::text, '{}'::jsonb);
  return result;
end
$$;
comment on function api.platform_get_tenant(uuid) is 'One tenant for the platform console: billing state, members (emails, roles) and channels, each WhatsApp number with its proof of control (whatsapp_verified_at, or whatsapp_verification_error saying why not; both null while the check is pending). Platform admins only; recorded in the tenant''s audit log.';
revoke all on function api.platform_get_tenant(uuid) from public, anon, authenticated;
grant execute on function api.platform_get_tenant(uuid) to authenticated;
