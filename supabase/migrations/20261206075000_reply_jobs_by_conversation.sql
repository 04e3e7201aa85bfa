-- The newest answered message of a conversation, found in app.reply_jobs alone.
--
-- api.reply_superseded_by asks whether a later inbound message of the conversation has a
-- reply job of its own. Asked of app.messages joined to app.reply_jobs, the answer depended
-- on the planner: with `order by seq desc limit 1` it may walk messages_seq_key, the
-- database-wide order of every tenant's messages, backwards until it meets the
-- conversation (thousands of rows on a busy database, seen on PostgreSQL 15). Each reply
-- job now carries its message's conversation and place in it, so the question is one probe
-- of reply_jobs_conversation_seq_idx, whatever the size of app.messages.

alter table app.reply_jobs
  add column conversation_id uuid references app.conversations (id) on delete cascade,
  add column seq bigint;

update app.reply_jobs r set conversation_id = m.conversation_id, seq = m.seq
from app.messages m where m.id = r.message_id;

alter table app.reply_jobs
  alter column conversation_id set not null,
  alter column seq set not null;
create index reply_jobs_conversation_seq_idx on app.reply_jobs (conversation_id, seq desc);
comment on column app.reply_jobs.conversation_id is 'The message''s conversation (app.reply_jobs_place fills it on insert).';
comment on column app.reply_jobs.seq is 'The message''s app.messages.seq (app.reply_jobs_place fills it on insert).';

-- The writer (app.answer_inbound) names the message; its conversation and seq come from it.
create function app.reply_jobs_place()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  select m.conversation_id, m.seq into new.conversation_id, new.seq from app.messages m where m.id = new.message_id;
  return new;
end
$$;
comment on function app.reply_jobs_place() is 'Before insert on app.reply_jobs: copies the message''s conversation_id and seq (one primary-key read).';
revoke all on function app.reply_jobs_place() from public, anon, authenticated;

create trigger reply_jobs_place before insert on app.reply_jobs
for each row execute function app.reply_jobs_place();

create or replace function api.reply_superseded_by(tenant_id uuid, conversation_id uuid, message_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(reply_superseded_by.tenant_id, reply_superseded_by.conversation_id);
  after_seq bigint;
  newer uuid;
begin
  select m.seq into after_seq from app.messages m
  where m.id = reply_superseded_by.message_id and m.conversation_id = conv.id;
  if after_seq is null then
    return null;
  end if;
  select r.message_id into newer from app.reply_jobs r
  where r.conversation_id = conv.id and r.seq > after_seq
  order by r.seq desc limit 1;
  return newer;
end
$$;
