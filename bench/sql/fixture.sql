-- bench:sql fixture, applied after the platform shim, the migrations and the seed: the
-- demo tenant of supabase/seed.sql on a large paid plan (so billing counts but never
-- refuses), the inbound rate limit off (the bench sends faster than any one sender
-- would), the worker's wake-up configured, and a `bench` schema of lookup tables the
-- pgbench scripts pick rows from.
-- Run as the superuser of a throwaway cluster; psql variable :tenant.

insert into app.settings (key, value) values
  ('inbound_rate_limit_per_tenant', 'off'),
  ('inbound_rate_limit_per_sender', 'off')
on conflict (key) do update set value = excluded.value;

-- The agent worker is woken as in production (a pg_net request queued after each job);
-- nothing listens at this address, and nothing here sends the queued requests.
select app.configure_functions('http://127.0.0.1:9/functions/v1', 'bench-worker-secret-0123456789abcdef0123456789');

insert into app.plans (key, name, monthly_messages, monthly_tokens, included_agents)
values ('bench', 'Bench', 100000000, 1000000000000, 10)
on conflict (key) do nothing;
update app.subscriptions set plan_key = 'bench', status = 'active', quantity = 1,
  current_period_start = date_trunc('month', now()), current_period_end = date_trunc('month', now()) + interval '1 month'
where tenant_id = :'tenant';

create schema bench;
grant usage on schema bench to service_role, authenticated;
-- Conversations of the demo web chat, numbered for `\set c random(1, :conversations)`.
create table bench.conversations (i integer primary key, id uuid not null);
-- Small tenants (1,000 with 100 chunks each at volume), numbered likewise.
create table bench.tenants (i integer primary key, id uuid not null);
-- Questions with an embedding, for hybrid search.
create table bench.queries (i integer primary key, question text not null, embedding extensions.vector(1536) not null);
grant select on all tables in schema bench to service_role, authenticated;

create function bench.words(n integer, salt double precision)
returns text
language sql
volatile
as $$
  select string_agg((array['refund', 'shipping', 'delivery', 'order', 'invoice', 'payment', 'card', 'warranty',
    'return', 'exchange', 'size', 'colour', 'linen', 'cotton', 'jacket', 'shirt', 'store', 'opening', 'hours',
    'sunday', 'holiday', 'discount', 'coupon', 'loyalty', 'points', 'account', 'password', 'email', 'phone',
    'address', 'parcel', 'courier', 'tracking', 'customs', 'europe', 'portugal', 'lisbon', 'porto', 'express',
    'standard', 'business', 'days', 'week', 'month', 'plan', 'starter', 'team', 'price', 'euros', 'trial', 'cancel',
    'subscription', 'billing', 'support', 'agent', 'chat'])[1 + floor(random() * 56)::integer], ' ')
  from generate_series(1, n) g
  where salt is not null
$$;

create function bench.embedding(salt double precision)
returns extensions.vector
language sql
volatile
as $$
  select array_agg(random() - 0.5)::extensions.vector(1536) from generate_series(1, 1536) g where salt is not null
$$;

insert into bench.queries (i, question, embedding)
select i, 'How long does ' || bench.words(4, i) || ' take?', bench.embedding(i)
from generate_series(1, 100) i;
