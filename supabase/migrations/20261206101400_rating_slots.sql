-- Ratings count in a slot of the dashboard's day like every other writer of it.
--
-- app.count_rating added to slot 0 of its conversation's row in app.activity_days (the
-- default of the column 20261206101000_counter_slots.sql added), so a rating could wait for
-- an ingest of the same tenant, day, agent and channel that holds that slot until it commits.
-- It now takes its slot from app.counter_slot, under the same key as app.count_activity.

create or replace function app.count_rating()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  c record;
  day date;
begin
  select v.is_test, v.agent_id, v.channel, v.created_at into c from app.conversations v where v.id = new.conversation_id;
  if found and not c.is_test then
    day := app.utc_day(c.created_at);
    insert into app.activity_days as d (tenant_id, day, agent_id, channel, slot, ratings, rating_sum, ratings_good)
    values (new.tenant_id, day, c.agent_id, c.channel,
      app.counter_slot(concat_ws(':', 'activity', new.tenant_id, day, c.agent_id, c.channel)),
      1, new.rating, (new.rating >= 4)::int)
    on conflict on constraint activity_days_key do update
      set ratings = d.ratings + 1, rating_sum = d.rating_sum + excluded.rating_sum,
        ratings_good = d.ratings_good + excluded.ratings_good;
  end if;
  return null;
end
$$;
comment on function app.count_rating() is 'After-insert trigger on conversation_ratings: adds the rating to its conversation''s UTC day, agent and channel in app.activity_days (ratings, rating_sum, ratings_good = 4 or 5), in a slot no other transaction holds (app.counter_slot). Test chats are not counted.';
