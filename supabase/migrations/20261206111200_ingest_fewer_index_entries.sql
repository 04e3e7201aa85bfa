-- Two indexes that every inbound message wrote and no query reads.
--
-- Profiled on a native PostgreSQL 15 (pg_statio_user_indexes per ingest, bench:sql's
-- ingest_message script): each message adds an entry to all seven indexes of app.messages,
-- and each message that opens a conversation, or bumps one (app.bump_conversation changes
-- its indexed last_message_at, so the update is never HOT), to the seven non-partial
-- indexes of app.conversations.
--
-- conversations_contact_id_idx (contact_id) duplicates conversations_contact_idx
-- (contact_id, last_message_at desc nulls last, id) where contact_id is not null, which
-- serves every lookup by contact: a contact's conversations (api.get_contact), a merge's
-- lock and move of the duplicate's conversations (api.merge_contacts), and the foreign key
-- check when a contact is deleted (contact_id = $1 implies it is not null).
-- messages_seq_key (seq) is the unique constraint of the identity column; messages are read
-- by seq only within their conversation (messages_conversation_seq_idx), and every seq comes
-- from the column's own sequence (api.ingest_message takes it with nextval).

drop index app.conversations_contact_id_idx;
alter table app.messages drop constraint messages_seq_key;
