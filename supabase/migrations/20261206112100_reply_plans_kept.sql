-- The small SQL functions every reply calls, in PL/pgSQL (issue 11, pipeline throughput).
-- A SQL function that cannot be inlined (one with `set search_path`, or called from
-- PL/pgSQL) is parsed and planned again on every call on PostgreSQL 15 and 17, while
-- PL/pgSQL keeps a plan per session. In a burst of replies on PostgreSQL 15 these were a
-- fifth of the database's time: app.detect_language (knowledge search, once per reply),
-- app.connection_json (the context and the delivery lease, twice each), app.actor_kind (each
-- audit entry) and app.agent_json (the context). Same signatures, same results, same rights;
-- only the language changes (a query that finds no row still gives null). Two more of them,
-- app.conversation_json and app.is_test_usage, were last defined this round and are PL/pgSQL
-- where they are (20261206103100, 20261206106000).

create or replace function app.detect_language(content text)
returns regconfig
language plpgsql
stable
parallel safe
set search_path = ''
as $$
begin
  return (
    with sample as (select lower(left(coalesce(detect_language.content, ''), 3000)) as t),
    word_count as (
      select count(*) as n from sample, regexp_split_to_table(sample.t, '[^[:alpha:]'']+') w where w <> ''
    ),
    scores as (
      select c.cfg, (select n from word_count) - (select coalesce(sum(coalesce(array_length(v.positions, 1), 1)), 0)
        from sample, unnest(to_tsvector(c.cfg, sample.t)) v) as stop_words
      from unnest(array['english', 'spanish', 'portuguese', 'french', 'german', 'italian', 'dutch']::regconfig[]) c(cfg)
    ),
    ranked as (select s.cfg, s.stop_words, row_number() over (order by s.stop_words desc, s.cfg::text) as r from scores s)
    select best.cfg from ranked best, ranked second
    where best.r = 1 and second.r = 2 and best.stop_words >= 1 and best.stop_words > second.stop_words);
end
$$;

create or replace function app.connection_json(connection_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
    select jsonb_build_object(
      'connection_id', c.id, 'tenant_id', c.tenant_id, 'kind', c.kind, 'name', c.name, 'status', c.status,
      'agent_id', c.agent_id, 'agent_status', a.status, 'slack_team_id', c.slack_team_id,
      'slack_bot_user_id', c.slack_bot_user_id, 'whatsapp_phone_number_id', c.whatsapp_phone_number_id,
      'whatsapp_business_account_id', c.whatsapp_business_account_id, 'widget_key', c.widget_key,
      'has_token', c.token_secret_id is not null, 'settings', c.settings)
    from app.channel_connections c
    left join app.agents a on a.id = c.agent_id
    where c.id = connection_json.connection_id);
end
$$;



create or replace function app.actor_kind()
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  return case
    when (select auth.role()) = 'service_role' then 'service'
    when (select auth.uid()) is null then 'system'
    when exists (select 1 from app.platform_admins p where p.user_id = (select auth.uid()))
      and not exists (select 1 from app.memberships m where m.user_id = (select auth.uid())) then 'platform_admin'
    else 'member'
  end;
end
$$;

create or replace function app.agent_json(agent app.agents)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (to_jsonb(agent) - 'llm_api_key_secret_id') || jsonb_build_object('has_own_llm_key',
    agent.llm_api_key_secret_id is not null);
end
$$;
