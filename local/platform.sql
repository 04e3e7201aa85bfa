-- The local platform shim: the parts of a Supabase Postgres that this project
-- relies on, with Supabase's names and signatures, so that supabase/migrations run
-- unchanged here and on Supabase. Applied only by local/, never on Supabase.
-- Idempotent: it runs on every start, before the migrations.

-- Roles -----------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin nologin bypassrls;
  end if;
end
$$;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
-- Attributes and settings as on Supabase (PostgREST applies a role's settings when it
-- switches to it; local/db.ts does the same for statement_timeout, which PGlite does
-- not enforce: tests/local/upstream-differences.test.ts).
alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;
alter role authenticator login noinherit;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- Extensions live in `extensions`, as on Supabase ---------------------------------
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists vector with schema extensions;
create extension if not exists pgmq;
alter database postgres set search_path = "$user", public, extensions;
set search_path = "$user", public, extensions;

grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

-- pgmq's schema is reachable by the service role, as Supabase's Queues integration grants.
grant usage on schema pgmq to service_role;
grant all on all tables in schema pgmq to service_role;
grant execute on all functions in schema pgmq to service_role;
alter default privileges in schema pgmq grant all on tables to service_role;

-- auth --------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud varchar(255) default 'authenticated',
  role varchar(255) default 'authenticated',
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text,
  phone_confirmed_at timestamptz,
  banned_until timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);
create unique index if not exists users_email_partial_key on auth.users (lower(email)) where email is not null;
comment on table auth.users is 'Local stand-in for Supabase Auth users.';

create table if not exists auth.identities (
  id uuid primary key default gen_random_uuid(),
  provider_id text not null,
  user_id uuid not null references auth.users(id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  email text generated always as (lower(identity_data ->> 'email')) stored
);

create table if not exists auth.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users(id) on delete cascade,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  not_after timestamptz
);

create table if not exists auth.refresh_tokens (
  id bigserial primary key,
  token varchar(255) unique,
  user_id varchar(255),
  revoked boolean default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  parent varchar(255),
  session_id uuid references auth.sessions(id) on delete cascade
);

-- What local/auth.ts keeps besides, under Supabase's names: a pending email change,
-- how each session was authenticated (the JWT's amr), and PKCE flow state.
alter table auth.users add column if not exists email_change varchar(255) default '';
alter table auth.users add column if not exists email_change_token_new varchar(255) default '';
alter table auth.users add column if not exists email_change_sent_at timestamptz;
create table if not exists auth.mfa_amr_claims (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references auth.sessions(id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  authentication_method text not null,
  unique (session_id, authentication_method)
);
create table if not exists auth.flow_state (
  id uuid primary key default gen_random_uuid(),
  user_id uuid references auth.users(id) on delete cascade,
  auth_code text not null,
  code_challenge_method text not null,
  code_challenge text not null,
  provider_type text not null,
  authentication_method text not null,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  auth_code_issued_at timestamptz
);

-- Same definitions as Supabase's auth schema.
create or replace function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
create or replace function auth.email() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;
create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt() to anon, authenticated, service_role;
grant select on auth.users to service_role;

-- realtime ------------------------------------------------------------------------
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid(),
  binary_payload bytea,
  -- local only: delivery order for the local realtime server
  local_seq bigint generated always as identity,
  primary key (id)
);
alter table realtime.messages add column if not exists binary_payload bytea;
alter table realtime.messages enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated;
grant all on realtime.messages to service_role;

create or replace function realtime.topic() returns text language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;
grant execute on function realtime.topic() to anon, authenticated, service_role;

create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
as $$
declare
  message_id uuid := gen_random_uuid();
begin
  -- As on Supabase: runs as the caller (RLS and grants on realtime.messages apply),
  -- sets the topic for the transaction, copies the message id into a payload that has
  -- none, and never lets a failed broadcast abort the caller's transaction.
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (
      message_id,
      case when payload ? 'id' then payload else jsonb_set(payload, '{id}', to_jsonb(message_id)) end,
      event, topic, private, 'broadcast'
    );
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;

create or replace function realtime.broadcast_changes(
  topic_name text, event_name text, operation text, table_name text, table_schema text,
  new record, old record, level text default 'ROW'
) returns void
language plpgsql
as $$
declare
  row_data jsonb;
  memo jsonb;
begin
  row_data := jsonb_build_object(
    'old_record', case when old is null then null else to_jsonb(old) end,
    'record', case when new is null then null else to_jsonb(new) end,
    'operation', operation,
    'table', table_name,
    'schema', table_schema
  );
  select realtime.send(row_data, event_name, topic_name) into memo;
end
$$;
grant execute on function realtime.send(jsonb, text, text, boolean) to public;
grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text) to public;

-- net (pg_net) ----------------------------------------------------------------------
-- As pg_net 0.20 on Supabase: the functions run as the caller and every role may call
-- them and read (and write) the queue, so nothing secret belongs in a request.
create schema if not exists net;
grant usage on schema net to public;

create table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds integer not null
);
create table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
grant all on net.http_request_queue, net._http_response to public;
grant usage on sequence net.http_request_queue_id_seq to public;

-- url?key=value&… with each key and value percent-encoded, as pg_net appends params.
create or replace function net.local_url_with_params(url text, params jsonb)
returns text
language sql
immutable
as $$
  select case when count(*) = 0 then url
    else url || case when url like '%?%' then '&' else '?' end || string_agg(
      (select string_agg(case when c ~ '[A-Za-z0-9._~-]' then c
                          else upper(regexp_replace(encode(convert_to(c, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) end, '' order by n)
       from regexp_split_to_table(p.key, '') with ordinality k(c, n)) || '=' ||
      (select coalesce(string_agg(case when c ~ '[A-Za-z0-9._~-]' then c
                          else upper(regexp_replace(encode(convert_to(c, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) end, '' order by n), '')
       from regexp_split_to_table(p.value, '') with ordinality v(c, n)), '&')
  end
  from jsonb_each_text(coalesce(params, '{}'::jsonb)) p
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
as $$
declare
  request_id bigint;
  content_type text;
begin
  -- As pg_net: a missing Content-Type becomes application/json; any other is refused.
  select h.value into content_type from jsonb_each_text(coalesce(headers, '{}'::jsonb)) h
  where lower(h.key) = 'content-type' limit 1;
  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  elsif content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  -- Without params the url is sent as given (pg_net encodes params in C; this SQL is slow).
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', case when params is null or params = '{}'::jsonb then url else net.local_url_with_params(url, params) end,
    headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
as $$
declare
  request_id bigint;
begin
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('GET', net.local_url_with_params(url, params), headers, null, timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;
grant execute on function net.http_post(text, jsonb, jsonb, jsonb, integer) to public;
grant execute on function net.http_get(text, jsonb, jsonb, integer) to public;

-- cron (pg_cron) --------------------------------------------------------------------
create schema if not exists cron;
create table if not exists cron.job (
  jobid bigserial primary key,
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  nodeport integer not null default 5432,
  database text not null default 'postgres',
  username text not null default current_user,
  active boolean not null default true,
  jobname text unique
);
create table if not exists cron.job_run_details (
  jobid bigint,
  runid bigserial primary key,
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);

-- What pg_cron 1.6 accepts (its parser, rule by rule): "[1-59] second(s)";
-- @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly/@reboot; or five fields
-- (minute 0-59, hour 0-23, day of month 1-31 or $, month 1-12 or jan-dec, day of week
-- 0-7 or sun-sat), each a comma list of *, n or n-m with an optional /step (not after a
-- lone n); anything after the fifth field is ignored, as pg_cron ignores it.
create or replace function cron.local_schedule_is_valid(schedule text)
returns boolean
language plpgsql
immutable
as $$
declare
  fields text[] := regexp_split_to_array(btrim(coalesce(schedule, ''), E' \t'), E'[ \t]+');
  lows integer[] := array[0, 0, 1, 1, 0];
  highs integer[] := array[59, 23, 31, 12, 7];
  names text[];
  item text;
  parts text[];
  bounds integer[];
  token text;
  i integer;
begin
  if schedule ~* '^\s*\d+\s*second(s\s*)?$' then
    return substring(schedule from '\d+')::numeric between 1 and 59;
  end if;
  if btrim(schedule, E' \t') like '@%' then
    return split_part(substr(btrim(schedule, E' \t'), 2), ' ', 1)
      in ('reboot', 'restart', 'yearly', 'annually', 'monthly', 'weekly', 'daily', 'midnight', 'hourly');
  end if;
  if coalesce(array_length(fields, 1), 0) < 5 then
    return false;
  end if;
  for i in 1..5 loop
    continue when i = 3 and fields[3] = '$';
    names := case i when 4 then array['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec']
                    when 5 then array['sun','mon','tue','wed','thu','fri','sat','sun'] end;
    foreach item in array string_to_array(fields[i], ',') loop
      -- range[/step]: a step needs * or n-m before it, and is a positive number.
      parts := regexp_match(item, '^([^/]+)(/(\d{1,9}))?$');
      if parts is null or (parts[3] is not null and (parts[3]::integer = 0 or (parts[1] <> '*' and parts[1] !~ '-'))) then
        return false;
      end if;
      continue when parts[1] = '*';
      bounds := array[]::integer[];
      foreach token in array string_to_array(parts[1], '-') loop
        if token ~ '^\d{1,9}$' then
          bounds := bounds || token::integer;
        elsif names is not null and lower(token) = any (names) then
          bounds := bounds || (array_position(names, lower(token)) - 1 + lows[i]);
        else
          return false;
        end if;
      end loop;
      if coalesce(array_length(bounds, 1), 0) not between 1 and 2
         or bounds[1] not between lows[i] and highs[i]
         or coalesce(bounds[2], bounds[1]) not between lows[i] and highs[i] then
        return false;
      end if;
    end loop;
  end loop;
  return true;
end
$$;

create or replace function cron.schedule(job_name text, schedule text, command text) returns bigint
language plpgsql as $$
declare
  id bigint;
begin
  if not cron.local_schedule_is_valid(schedule) then
    raise exception 'invalid schedule: %', schedule
      using errcode = '22023', hint = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
  end if;
  insert into cron.job (jobname, schedule, command)
  values (job_name, schedule, command)
  on conflict (jobname) do update set schedule = excluded.schedule, command = excluded.command, active = true
  returning jobid into id;
  return id;
end
$$;
create or replace function cron.schedule(schedule text, command text) returns bigint
language sql as $$ select cron.schedule(null::text, schedule, command) $$;
create or replace function cron.unschedule(job_name text) returns boolean
language plpgsql as $$
begin
  delete from cron.job where jobname = job_name;
  if not found then
    raise exception 'could not find valid entry for job ''%''', job_name;
  end if;
  return true;
end
$$;
create or replace function cron.unschedule(job_id bigint) returns boolean
language plpgsql as $$
begin
  delete from cron.job where jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id;
  end if;
  return true;
end
$$;

-- vault -----------------------------------------------------------------------------
create schema if not exists vault;
create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text unique,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- The local root key. On Supabase the key lives outside the database.
-- It is 256 random bits, so secrets are encrypted under it without key stretching
-- (s2k-mode=1): pgcrypto's default iterated S2K made every decrypt (each worker wake-up
-- reads two secrets) cost a tenth of a millisecond and protected nothing more.
create table if not exists vault.local_root_key (
  only_row boolean primary key default true check (only_row),
  key text not null default encode(extensions.gen_random_bytes(32), 'hex')
);
insert into vault.local_root_key default values on conflict do nothing;
revoke all on vault.secrets, vault.local_root_key from public, anon, authenticated, service_role;

create or replace function vault.create_secret(
  new_secret text, new_name text default null, new_description text default '', new_key_id uuid default null
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  secret_id uuid;
begin
  insert into vault.secrets (secret, name, description, key_id)
  values (
    encode(extensions.pgp_sym_encrypt(new_secret, (select key from vault.local_root_key), 's2k-mode=1'), 'base64'),
    new_name, coalesce(new_description, ''), new_key_id
  )
  returning id into secret_id;
  return secret_id;
end
$$;

create or replace function vault.update_secret(
  secret_id uuid, new_secret text default null, new_name text default null,
  new_description text default null, new_key_id uuid default null
) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update vault.secrets set
    secret = case when new_secret is null then secret
      else encode(extensions.pgp_sym_encrypt(new_secret, (select key from vault.local_root_key), 's2k-mode=1'), 'base64') end,
    name = coalesce(new_name, name),
    description = coalesce(new_description, description),
    key_id = coalesce(new_key_id, key_id),
    updated_at = now()
  where id = secret_id;
end
$$;

create or replace view vault.decrypted_secrets with (security_invoker = false) as
select s.id, s.name, s.description, s.secret,
  extensions.pgp_sym_decrypt(decode(s.secret, 'base64'), k.key) as decrypted_secret,
  s.key_id, s.nonce, s.created_at, s.updated_at
from vault.secrets s cross join vault.local_root_key k;

revoke all on schema vault from public;
grant usage on schema vault to service_role;
revoke all on vault.decrypted_secrets from public, anon, authenticated;
grant select on vault.decrypted_secrets to service_role;
revoke all on function vault.create_secret(text, text, text, uuid) from public, anon, authenticated;
revoke all on function vault.update_secret(uuid, text, text, text, uuid) from public, anon, authenticated;
grant execute on function vault.create_secret(text, text, text, uuid) to service_role;
grant execute on function vault.update_secret(uuid, text, text, text, uuid) to service_role;

-- Migration bookkeeping, as the Supabase CLI keeps it -------------------------------
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);
create table if not exists supabase_migrations.seed_files (
  path text primary key,
  hash text not null
);
