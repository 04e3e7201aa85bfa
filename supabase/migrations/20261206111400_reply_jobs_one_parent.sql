-- app.reply_jobs keeps one foreign key, to the message it answers.
--
-- Profiled on a native PostgreSQL 15 (pg_stat_statements with track = all): every answered
-- inbound message inserts its app.reply_jobs row, and that insert ran three foreign key
-- checks (the message, the tenant, the conversation; each a locking read of the parent row,
-- with its WAL record) and wrote three index entries. The message's own foreign key says all
-- the other two did: the row is deleted with its message (on delete cascade), a message is
-- deleted with its conversation and a conversation with its tenant, and conversation_id is
-- the message's own (app.reply_jobs_place copies it). reply_jobs_tenant_idx served only the
-- tenant's cascade; no query reads reply jobs by tenant.

alter table app.reply_jobs drop constraint reply_jobs_tenant_id_fkey;
alter table app.reply_jobs drop constraint reply_jobs_conversation_id_fkey;
drop index app.reply_jobs_tenant_idx;
