-- Ratings: a web chat visitor rates their conversation once it is closed (1 to 5, with an
-- optional comment), and the dashboard shows them.
--
-- The web-chat function verifies the visitor's session and calls api.rate_web_chat_conversation
-- with the visitor id it proved; the conversation is found by that id (the widget's thread
-- key), so a visitor can rate only their own conversation on that widget, and only once.
-- A trigger adds each rating to the conversation's day in app.activity_days (count, sum, and
-- how many were 4 or 5), so the dashboard's average reads the rollups like its other figures.

create table app.conversation_ratings (
  conversation_id uuid primary key,
  tenant_id uuid not null,
  rating smallint not null check (rating between 1 and 5),
  comment text check (comment is null or length(comment) <= 1000),
  created_at timestamptz not null default now(),
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade
);
create index conversation_ratings_tenant_idx on app.conversation_ratings (tenant_id, created_at desc);
comment on table app.conversation_ratings is 'A visitor''s rating of their closed web chat conversation: 1 to 5 and an optional comment, once per conversation (api.rate_web_chat_conversation). Members read it.';

create function app.count_rating()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  c record;
begin
  select v.is_test, v.agent_id, v.channel, v.created_at into c from app.conversations v where v.id = new.conversation_id;
  if found and not c.is_test then
    insert into app.activity_days as d (tenant_id, day, agent_id, channel, ratings, rating_sum, ratings_good)
    values (new.tenant_id, app.utc_day(c.created_at), c.agent_id, c.channel, 1, new.rating, (new.rating >= 4)::int)
    on conflict on constraint activity_days_key do update
      set ratings = d.ratings + 1, rating_sum = d.rating_sum + excluded.rating_sum,
        ratings_good = d.ratings_good + excluded.ratings_good;
  end if;
  return null;
end
$$;
comment on function app.count_rating() is 'After-insert trigger on conversation_ratings: adds the rating to its conversation''s UTC day, agent and channel in app.activity_days (ratings, rating_sum, ratings_good = 4 or 5). Test chats are not counted.';

create trigger conversation_ratings_count after insert on app.conversation_ratings
  for each row execute function app.count_rating();

create function api.rate_web_chat_conversation(connection_id uuid, visitor_id text, rating integer,
  comment text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv record;
  stored app.conversation_ratings;
begin
  if rate_web_chat_conversation.rating is null or rate_web_chat_conversation.rating not between 1 and 5 then
    raise exception 'a rating is a whole number from 1 to 5' using errcode = '22023';
  end if;
  if length(rate_web_chat_conversation.comment) > 1000 then
    raise exception 'keep the comment under 1000 characters' using errcode = '22023';
  end if;
  -- The visitor's own conversation on this widget: its thread key is the visitor id.
  select c.id, c.tenant_id, c.status into conv
  from app.conversations c
  join app.channel_connections cc on cc.id = c.connection_id and cc.tenant_id = c.tenant_id
  where c.connection_id = rate_web_chat_conversation.connection_id and cc.kind = 'web_chat'
    and c.thread_key = rate_web_chat_conversation.visitor_id;
  if not found then
    raise exception 'no conversation of this visitor on this widget' using errcode = 'P0002';
  end if;
  if conv.status <> 'closed' then
    raise exception 'a conversation is rated once it is closed' using errcode = '22023';
  end if;
  insert into app.conversation_ratings (conversation_id, tenant_id, rating, comment)
  values (conv.id, conv.tenant_id, rate_web_chat_conversation.rating, nullif(btrim(rate_web_chat_conversation.comment), ''))
  on conflict (conversation_id) do nothing
  returning * into stored;
  if stored.conversation_id is null then
    select * into stored from app.conversation_ratings r where r.conversation_id = conv.id;
    return jsonb_build_object('conversation_id', conv.id, 'rating', stored.rating, 'duplicate', true);
  end if;
  return jsonb_build_object('conversation_id', conv.id, 'rating', stored.rating, 'duplicate', false);
end
$$;
comment on function api.rate_web_chat_conversation(uuid, text, integer, text) is 'Records a web chat visitor''s rating (1 to 5, optional comment up to 1000 characters) of their own closed conversation on this widget, for the web-chat function once it verified the visitor''s session: the conversation is the one whose thread key is visitor_id. Once per conversation: a second rating changes nothing and returns the first with duplicate true. P0002 without such a conversation, 22023 while it is not closed or for a bad rating. service_role.';

alter table app.conversation_ratings enable row level security;
alter table app.conversation_ratings force row level security;
create policy "members can read their tenant's conversation ratings" on app.conversation_ratings
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.conversation_ratings to authenticated;
grant select, insert on app.conversation_ratings to service_role;

revoke all on function app.count_rating() from public, anon, authenticated;
revoke all on function api.rate_web_chat_conversation(uuid, text, integer, text) from public, anon, authenticated;
grant execute on function api.rate_web_chat_conversation(uuid, text, integer, text) to service_role;
