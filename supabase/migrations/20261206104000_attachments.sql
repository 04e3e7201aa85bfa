-- Attachments shown in the inbox.
--
-- app.messages.attachments keeps what the channel said about a file a customer sent
-- (shared/channels/attachments.ts): its kind, type, name, size and caption, and where the
-- channel keeps the bytes (WhatsApp's media id; Slack's file id and private URL). The
-- bytes are fetched on demand by the channel-media function, for a member who asks.
--
-- api.get_attachment is how that function learns what to fetch. It runs as the member
-- (security invoker): row level security on app.messages decides whether the message
-- exists for them, so another tenant's message and an unknown id are the same P0002.
-- Only inbound messages are answered: the attachments of an outbound message were written
-- by a member (api.reply_as_member), and what a member wrote must never steer where the
-- platform sends a channel's token.
--
-- The conversation list's preview of a message without text names what was sent
-- ("📎 photo", "📎 invoice.pdf") instead of "[attachment]".

create function api.get_attachment(message_id uuid, attachment_index integer)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg record;
begin
  select m.id, m.tenant_id, m.connection_id, m.direction, m.attachments into msg
  from app.messages m where m.id = get_attachment.message_id;
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;
  perform app.require_read(msg.tenant_id, 'messages');
  if msg.direction <> 'in' or get_attachment.attachment_index is null or get_attachment.attachment_index < 0
    or get_attachment.attachment_index >= jsonb_array_length(msg.attachments) then
    return null;
  end if;
  return jsonb_build_object('message_id', msg.id, 'tenant_id', msg.tenant_id, 'connection_id', msg.connection_id,
    'attachment', msg.attachments -> get_attachment.attachment_index);
end
$$;
comment on function api.get_attachment(uuid, integer) is 'One attachment of an inbound message the caller may read: {message_id, tenant_id, connection_id, attachment}; null when the message has no such attachment or is outbound; P0002 when the caller cannot see the message. For the channel-media function, as the member. Any member.';
revoke all on function api.get_attachment(uuid, integer) from public, anon;
grant execute on function api.get_attachment(uuid, integer) to authenticated;

-- What the preview says for a message without text: its first attachment's caption, file
-- name, or kind.
create function app.attachment_preview(attachments jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when jsonb_typeof(attachments) = 'array' and jsonb_array_length(attachments) > 0 then
    '📎 ' || coalesce(
      nullif(btrim(attachments -> 0 ->> 'caption'), ''),
      nullif(btrim(attachments -> 0 ->> 'filename'), ''),
      case attachments -> 0 ->> 'type'
        when 'image' then 'photo' when 'video' then 'video' when 'audio' then 'voice message'
        when 'sticker' then 'sticker' else 'file' end)
  end
$$;
comment on function app.attachment_preview(jsonb) is 'The conversation preview of a message without text: 📎 and its first attachment''s caption, file name or kind; null without attachments.';
revoke all on function app.attachment_preview(jsonb) from public, anon, authenticated;

-- From 20261201000700_conversations_and_inbox.sql; only the preview changes.
create or replace function app.bump_conversation()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update app.conversations c set
    last_message_at = greatest(coalesce(c.last_message_at, new.created_at), new.created_at),
    last_inbound_at = case when new.direction = 'in'
      then greatest(coalesce(c.last_inbound_at, new.created_at), new.created_at) else c.last_inbound_at end,
    last_message_preview = left(coalesce(nullif(new.text, ''),
      app.attachment_preview(new.attachments), new.text, '[attachment]'), 200),
    last_inbound_seq = case when new.direction = 'in' then greatest(coalesce(c.last_inbound_seq, 0), new.seq)
      else c.last_inbound_seq end
  where c.id = new.conversation_id;
  return null;
end
$$;
