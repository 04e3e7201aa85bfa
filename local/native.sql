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
