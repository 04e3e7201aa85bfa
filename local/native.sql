-- What the local stack needs of a native PostgreSQL server besides the platform shim
-- (applied after local/platform.sql, only there; PGlite is one connection and needs
-- none of it). Many connections commit concurrently, so the order in which rows were
-- inserted is not the order in which they became visible: NOTIFY, which PostgreSQL
-- delivers once the transaction commits, in commit order, and never after a rollback,
-- tells the stack what to deliver (realtime broadcasts) and when to look (pg_net).
-- Idempotent: it runs on every start.

create schema if not exists local;
revoke all on schema local from public;

create or replace function local.notify_broadcast() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('konstruct_broadcast', new.local_seq::text);
  return null;
end
$$;
revoke all on function local.notify_broadcast() from public;

create or replace function local.notify_net_request() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('konstruct_net', '');
  return null;
end
$$;
revoke all on function local.notify_net_request() from public;

drop trigger if exists local_notify_broadcast on realtime.messages;
create trigger local_notify_broadcast
  after insert on realtime.messages
  for each row when (new.extension = 'broadcast')
  execute function local.notify_broadcast();

drop trigger if exists local_notify_net_request on net.http_request_queue;
create trigger local_notify_net_request
  after insert on net.http_request_queue
  for each statement
  execute function local.notify_net_request();

-- The REST gateway's schema cache (local/rest-routines.ts). What the gateway knows of an
-- api function (its parameters, what it returns) holds while this number is unchanged;
-- every DDL statement adds one, as Supabase's event triggers make PostgREST reload its
-- schema cache. A request made with a cached function checks the number first, in the
-- same round trip as its call (local.require_schema_version), and is made again with a
-- fresh lookup when it moved.
create table if not exists local.schema_version (version bigint not null);
insert into local.schema_version (version) select 0 where not exists (select 1 from local.schema_version);
revoke all on local.schema_version from public;

create or replace function local.bump_schema_version() returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update local.schema_version set version = version + 1;
end
$$;
revoke all on function local.bump_schema_version() from public;

drop event trigger if exists local_schema_version;
create event trigger local_schema_version on ddl_command_end execute function local.bump_schema_version();

create or replace function local.require_schema_version(expected bigint) returns void
language plpgsql
set search_path = ''
as $$
begin
  if (select v.version from local.schema_version v) is distinct from expected then
    raise exception 'the schema changed since the gateway read it' using errcode = 'KOSC1';
  end if;
end
$$;
revoke all on function local.require_schema_version(bigint) from public;
