-- A Slack user's name and avatar are looked up once, off the webhook's path: the first
-- conversation of a Slack identity whose profile was never fetched queues a
-- contact_profile job (the agent worker calls users.info with the workspace's bot token
-- and records the answer with api.record_contact_profile). A few seconds' delay lets the
-- conversation's reply go first. One indexed lookup per new Slack conversation, none per
-- message.

create function app.enqueue_contact_profile()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  external_user text;
begin
  select i.external_user_id into external_user from app.contact_identities i
  where i.contact_id = new.contact_id and i.channel = 'slack' and i.profile_fetched_at is null
  limit 1;
  if external_user is not null then
    perform pgmq.send('agent_jobs', jsonb_build_object('kind', 'contact_profile', 'tenant_id', new.tenant_id,
      'connection_id', new.connection_id, 'external_user_id', external_user), 3);
  end if;
  return null;
end
$$;
comment on function app.enqueue_contact_profile() is 'After-insert trigger on Slack conversations: queues a contact_profile job (3 s delay) while the contact''s Slack identity has no profile yet.';
create trigger conversations_enqueue_contact_profile after insert on app.conversations
  for each row when (new.channel = 'slack' and new.contact_id is not null)
  execute function app.enqueue_contact_profile();
revoke all on function app.enqueue_contact_profile() from public, anon, authenticated;
