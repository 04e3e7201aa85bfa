-- A Slack user is looked up (users.info) the first time they are seen, wherever that is.
--
-- The contact_profile job was queued by a trigger on a new Slack conversation, so someone
-- whose first message was a reply inside a thread that already had its conversation (a
-- colleague joining the thread) was never looked up and stayed unnamed. The lookup is now
-- queued where the person first appears: a new Slack contact identity. The job needs the
-- workspace (its bot token asks Slack), which the identity does not carry, so the trigger
-- is deferred to the end of the transaction that stores the person's first message (the
-- identity, the conversation and the message are written in one api.ingest_message call)
-- and reads that message's connection among the tenant's messages since the identity was
-- created: an index range of the few messages written meanwhile, once per new Slack user,
-- nothing per message and nothing new inside api.ingest_message. The reply goes first: the
-- job waits 3 s, as before. An identity whose transaction stored no message of its person
-- queues nothing (api.ingest_message always stores one with a new identity).
--
-- The conversation trigger is dropped: one lookup per person, queued once. Slack
-- identities stored unnamed before this migration are queued once here.

drop trigger conversations_enqueue_contact_profile on app.conversations;
drop function app.enqueue_contact_profile();

create function app.enqueue_identity_profile()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  connection uuid;
begin
  select m.connection_id into connection from app.messages m
  where m.tenant_id = new.tenant_id and m.created_at >= new.created_at and m.author_contact_id = new.contact_id
  order by m.created_at
  limit 1;
  if connection is not null then
    perform pgmq.send('agent_jobs', jsonb_build_object('kind', 'contact_profile', 'tenant_id', new.tenant_id,
      'connection_id', connection, 'external_user_id', new.external_user_id), 3);
  end if;
  return null;
end
$$;
comment on function app.enqueue_identity_profile() is 'Deferred after-insert trigger on Slack contact identities without a profile: at the end of the transaction that stored the user''s first message, queues one contact_profile job (3 s delay) on that message''s connection.';
revoke all on function app.enqueue_identity_profile() from public, anon, authenticated;
create constraint trigger contact_identities_enqueue_profile after insert on app.contact_identities
  deferrable initially deferred
  for each row when (new.channel = 'slack' and new.profile_fetched_at is null)
  execute function app.enqueue_identity_profile();

-- Unnamed Slack users already stored: one lookup each, on a workspace they wrote in.
select pgmq.send('agent_jobs', jsonb_build_object('kind', 'contact_profile', 'tenant_id', i.tenant_id,
    'connection_id', w.connection_id, 'external_user_id', i.external_user_id), 3)
from app.contact_identities i
cross join lateral (
  select m.connection_id from app.messages m
  join app.channel_connections c on c.id = m.connection_id and c.kind = 'slack'
  where m.tenant_id = i.tenant_id and m.created_at >= i.created_at and m.author_contact_id = i.contact_id
  order by m.created_at
  limit 1) w
where i.channel = 'slack' and i.profile_fetched_at is null;
