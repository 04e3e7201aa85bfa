-- A transaction adds to the same counter more than once: an ingest that opens a conversation
-- counts the conversation and then its first message in the same row of app.activity_days.
-- app.counter_slot took the first free slot each time, so when the slot taken by another
-- writer at the first call had been released by the second, the transaction took a second
-- slot (and kept holding the first): with four writers a fifth slot appeared (seen on a
-- native server in CI). Now the transaction keeps the slot it took first for a key, which it
-- holds until it ends: never more slots of a key than its writers at once.
create or replace function app.counter_slot(key text)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  keyed integer := pg_catalog.hashtext(counter_slot.key);
  -- ',<hash>:<slot>,' for each key this transaction holds a slot of (a setting local to the
  -- transaction: a rolled-back subtransaction forgets it, as it releases the lock).
  held text := coalesce(pg_catalog.current_setting('konstruct.counter_slots', true), '');
  slot integer := pg_catalog.substring(held, ',' || keyed || ':([0-9]+),')::integer;
begin
  if slot is not null then
    return slot;
  end if;
  slot := 0;
  -- Held until this transaction ends. Another key with the same hash only makes a writer skip
  -- a slot (or share the one this transaction holds).
  while not pg_catalog.pg_try_advisory_xact_lock(keyed, slot) loop
    slot := slot + 1;
  end loop;
  -- A bulk write of thousands of keys in one transaction stops remembering (about 200 keys),
  -- so the look-up above stays short; it then takes first free slots, as before.
  if pg_catalog.length(held) < 4000 then
    perform pg_catalog.set_config('konstruct.counter_slots',
      case when held = '' then ',' else held end || keyed || ':' || slot || ',', true);
  end if;
  return slot;
end
$$;
comment on function app.counter_slot(text) is 'The slot of a counter key (e.g. ''tenant_usage:<tenant>:<period>'') this transaction writes: the one it took at its first call for the key, else the first that no other transaction holds, held by this one until it ends (an advisory lock per key and slot, never waited for). Where a writer adds to a counter kept in slots, so concurrent writers never wait for each other: never more slots of a key than its writers at once.';
