-- Usage counters recounted from the raw rows.
--
-- Plan limits and budgets read app.tenant_usage and app.agent_usage
-- (20261126000500_knowledge_memory_usage.sql), counters kept in the same transaction as
-- the event. These functions say what the counters should hold, from history: the
-- inbound messages of non-test conversations that the rate limit did not hold back
-- (app.rate_limited_messages), and the tokens and cost of usage_events, per UTC month.
-- A pgTAP test checks the two agree after concurrent-looking, retried and duplicate
-- traffic; app.reconcile_usage_counters rewrites the counters from history (after a bulk
-- import, or to repair), taking a lock that waits for writers in flight.

create function app.usage_from_history(tenant_id uuid)
returns table (agent_id uuid, period_start timestamptz, messages bigint, tokens bigint, cost_usd numeric)
language sql
stable
security definer
set search_path = ''
as $$
  select null::uuid, h.period_start, sum(h.messages)::bigint, sum(h.tokens)::bigint, sum(h.cost_usd)
  from (
    select app.usage_period(m.created_at) as period_start, 1 as messages, 0::bigint as tokens, 0::numeric as cost_usd
    from app.messages m
    join app.conversations c on c.id = m.conversation_id
    where m.tenant_id = usage_from_history.tenant_id and m.direction = 'in' and not c.is_test
      and not exists (select 1 from app.rate_limited_messages r where r.message_id = m.id)
    union all
    select app.usage_period(u.occurred_at), 0, u.input_tokens + u.output_tokens, u.cost_usd
    from app.usage_events u
    where u.tenant_id = usage_from_history.tenant_id
  ) h
  group by h.period_start
  union all
  select u.agent_id, app.usage_period(u.occurred_at), 0, sum(u.input_tokens + u.output_tokens)::bigint, sum(u.cost_usd)
  from app.usage_events u
  where u.tenant_id = usage_from_history.tenant_id and u.agent_id is not null
  group by u.agent_id, app.usage_period(u.occurred_at)
$$;
comment on function app.usage_from_history(uuid) is 'What a tenant''s usage counters should hold, recounted from the raw rows (reads its whole history: for checks and repair, never a hot path): per UTC month, agent_id null = the tenant''s row (admitted inbound messages of non-test conversations, tokens, cost), else that agent''s tokens and cost.';

create function app.reconcile_usage_counters(tenant_id uuid default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Writers in flight finish first; those after this commit add to the recounted values.
  lock table app.tenant_usage, app.agent_usage in exclusive mode;
  delete from app.tenant_usage u where reconcile_usage_counters.tenant_id is null or u.tenant_id = reconcile_usage_counters.tenant_id;
  delete from app.agent_usage u where reconcile_usage_counters.tenant_id is null or u.tenant_id = reconcile_usage_counters.tenant_id;
  insert into app.tenant_usage (tenant_id, period_start, messages, tokens, cost_usd)
  select t.id, h.period_start, h.messages, h.tokens, h.cost_usd
  from app.tenants t, app.usage_from_history(t.id) h
  where (reconcile_usage_counters.tenant_id is null or t.id = reconcile_usage_counters.tenant_id) and h.agent_id is null;
  insert into app.agent_usage (tenant_id, agent_id, period_start, tokens, cost_usd)
  select t.id, h.agent_id, h.period_start, h.tokens, h.cost_usd
  from app.tenants t, app.usage_from_history(t.id) h
  where (reconcile_usage_counters.tenant_id is null or t.id = reconcile_usage_counters.tenant_id) and h.agent_id is not null;
end
$$;
comment on function app.reconcile_usage_counters(uuid) is 'Rewrites the usage counters (app.tenant_usage, app.agent_usage) of one tenant, or of all when null, from the raw rows (app.usage_from_history). For bulk imports and repair; reads history, never called on a hot path.';

revoke all on function app.usage_from_history(uuid), app.reconcile_usage_counters(uuid) from public, anon, authenticated;
grant execute on function app.usage_from_history(uuid), app.reconcile_usage_counters(uuid) to service_role;
