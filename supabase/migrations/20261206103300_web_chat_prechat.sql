-- The web chat's pre-chat form, enforced by the server.
--
-- A tenant may switch on a pre-chat form for a widget (settings.prechat_form): the visitor
-- gives a name (api.set_visitor_profile) before the first message. Only the widget asked;
-- a script posting to the web-chat function directly could skip it. The web-chat function
-- now asks api.web_chat_prechat_pending before storing a message, and refuses it
-- (prechat_required) while the form is on, the visitor has no conversation on this widget
-- yet and has not named itself. Two indexed lookups, only on widgets with the form on. A
-- visitor who wrote before the form was switched on keeps writing.

create function api.web_chat_prechat_pending(connection_id uuid, visitor_id text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce((
    select (c.settings -> 'prechat_form') = 'true'::jsonb
      and not exists (select 1 from app.conversations v
        where v.connection_id = c.id and v.thread_key = web_chat_prechat_pending.visitor_id)
      and not exists (select 1 from app.contact_identities i
        where i.tenant_id = c.tenant_id and i.channel = 'web_chat'
          and i.external_user_id = web_chat_prechat_pending.visitor_id and i.display_name is not null)
      and not exists (select 1 from app.test_chat_visitors t
        where t.connection_id = c.id and t.visitor_id = web_chat_prechat_pending.visitor_id)
    from app.channel_connections c
    where c.id = web_chat_prechat_pending.connection_id and c.kind = 'web_chat'), false)
$$;
comment on function api.web_chat_prechat_pending(uuid, text) is 'True while a web chat visitor must fill in the widget''s pre-chat form before its first message: the form is on (settings.prechat_form), the visitor has no conversation on this widget, has not given its name (api.set_visitor_profile) and is not a member''s test chat on it (api.begin_test_chat). service_role.';
revoke all on function api.web_chat_prechat_pending(uuid, text) from public, anon, authenticated;
grant execute on function api.web_chat_prechat_pending(uuid, text) to service_role;
