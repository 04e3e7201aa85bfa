-- Attachments in the inbox: api.get_attachment answers a member of the message's tenant
-- (as that member, through row level security), hides the message from everyone else,
-- never answers for an outbound message, and the preview names what was sent.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(10);

select tests.become('service');
create temp table sent as
select (api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.photo-1', '4915100000009', '4915100000009', null,
  'Mia', '[{"type": "image", "whatsapp_media_id": "media-77", "mime_type": "image/jpeg", "filename": null, "caption": null}]'::jsonb)
  ->> 'message_id')::uuid as photo,
  (api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.doc-1', '4915100000010', '4915100000010', null,
  'Ben', '[{"type": "document", "whatsapp_media_id": "media-78", "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": null}]'::jsonb)
  ->> 'message_id')::uuid as doc;
reset role;
grant select on sent to public;

select is(tests.value_as('operator', format($$select api.get_attachment(%L, 0) -> 'attachment' ->> 'whatsapp_media_id'$$,
  (select photo from sent))), 'media-77', 'an operator of the tenant reads the attachment');
select is(tests.value_as('owner', format($$select api.get_attachment(%L, 0) ->> 'connection_id'$$, (select photo from sent))),
  tests.get('wa_channel'), 'with the connection it came by');
select is(tests.outcome('stranger', format($$select api.get_attachment(%L, 0)$$, (select photo from sent))), 'P0002',
  'a member of another tenant is told it does not exist');
select is(tests.outcome('anon', format($$select api.get_attachment(%L, 0)$$, (select photo from sent))), '42501',
  'anon may not ask');
select is(tests.value_as('owner', format($$select api.get_attachment(%L, 1)$$, (select photo from sent))), '<null>',
  'an index past the last attachment is null');
select is(tests.value_as('owner', format($$select api.get_attachment(%L, -1)$$, (select photo from sent))), '<null>',
  'a negative index is null');

-- A member's reply may carry attachments of the member's choosing: never fetched from a channel.
select tests.become('admin');
create temp table reply as select (api.reply_as_member(tests.get('conv')::uuid, null,
  '[{"type": "document", "slack_file_id": "F1", "slack_url_private": "https://files.slack.com/x"}]'::jsonb) ->> 'message_id')::uuid as id;
reset role;
grant select on reply to public;
select is(tests.value_as('owner', format($$select api.get_attachment(%L, 0)$$, (select id from reply))), '<null>',
  'an outbound message''s attachment is never answered');

select is((select last_message_preview from app.conversations c join app.messages m on m.conversation_id = c.id
  where m.id = (select photo from sent)), '📎 photo', 'a photo without caption is previewed as one');
select is((select last_message_preview from app.conversations c join app.messages m on m.conversation_id = c.id
  where m.id = (select doc from sent)), '📎 invoice.pdf', 'a document by its file name');
select is((select last_message_preview from app.conversations where id = tests.get('conv')::uuid), '📎 file',
  'a reply with only a file of no known kind');

select * from finish();
rollback;
