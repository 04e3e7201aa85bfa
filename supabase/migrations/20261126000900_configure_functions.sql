-- Waking the edge functions from the database, with no key in any readable row.
--
-- pg_net queues each request in net.http_request_queue, which every role can read, and
-- runs as its caller; so a wake-up carries no key or secret, only a short-lived signature:
--
--   x-konstruct-signature: t=<unix seconds>,v1=<hex hmac-sha256(worker secret, t || '.' || body)>
--
-- which agent-worker and stripe-meter check against KONSTRUCT_WORKER_SECRET (a 5-minute
-- window). Where the functions are and the worker secret are two Vault secrets, set once
-- after deploying (as Supabase documents for cron -> functions), by the database owner:
--
--   select app.configure_functions('https://<project-ref>.supabase.co/functions/v1', '<worker secret>');
--
-- The local stack calls it on start. app.wake_function reads both secrets inside a narrow
-- security-definer function; without them it warns (each time) and wakes nothing.

create function app.configure_functions(functions_url text, worker_secret text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  wanted jsonb := jsonb_build_object(
    'konstruct_functions_url', rtrim(btrim(coalesce(configure_functions.functions_url, '')), '/'),
    'konstruct_worker_secret', coalesce(configure_functions.worker_secret, ''));
  secret record;
  secret_id uuid;
begin
  if wanted ->> 'konstruct_functions_url' !~ '^https?://[^/?#\s]+' then
    raise exception 'functions_url must be an http(s) URL, e.g. https://<project-ref>.supabase.co/functions/v1'
      using errcode = '22023';
  end if;
  if length(wanted ->> 'konstruct_worker_secret') < 32 then
    raise exception 'worker_secret must be at least 32 characters (e.g. openssl rand -hex 32)' using errcode = '22023';
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'pg_net is not enabled: run `create extension pg_net with schema extensions` first'
      using errcode = '55000';
  end if;
  for secret in select key as name, value from jsonb_each_text(wanted) loop
    select s.id into secret_id from vault.secrets s where s.name = secret.name;
    if secret_id is null then
      perform vault.create_secret(secret.value, secret.name, 'Konstruct: how the database wakes its edge functions');
    else
      perform vault.update_secret(secret_id, secret.value);
    end if;
  end loop;
end
$$;
comment on function app.configure_functions(text, text) is 'The deploy step: stores where the edge functions are (Vault konstruct_functions_url) and the secret wake-ups are signed with (Vault konstruct_worker_secret, also the functions'' KONSTRUCT_WORKER_SECRET). 22023 for a bad URL or a short secret; 55000 without pg_net. Database owner only.';

create function app.wake_function(function_name text, body jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  base_url text;
  secret text;
  signed_at text := floor(extract(epoch from clock_timestamp()))::bigint::text;
begin
  if wake_function.function_name !~ '^[a-z][a-z0-9-]*$' then
    raise exception 'not a function name: %', wake_function.function_name using errcode = '22023';
  end if;
  select max(d.decrypted_secret) filter (where d.name = 'konstruct_functions_url'),
         max(d.decrypted_secret) filter (where d.name = 'konstruct_worker_secret')
    into base_url, secret
  from vault.decrypted_secrets d
  where d.name in ('konstruct_functions_url', 'konstruct_worker_secret');
  if base_url is null or secret is null then
    raise warning 'konstruct: % was not woken: the Vault secrets konstruct_functions_url and konstruct_worker_secret are not set (run app.configure_functions once after deploying)',
      wake_function.function_name;
    return null;
  end if;
  -- pg_net sends convert_to(body::text, 'UTF8'): the signature covers exactly those bytes.
  return net.http_post(
    url := base_url || '/' || wake_function.function_name,
    body := wake_function.body,
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'x-konstruct-signature', 't=' || signed_at || ',v1=' || encode(extensions.hmac(
        convert_to(signed_at || '.' || wake_function.body::text, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'hex')
    ),
    -- The worker answers when its batch is done (up to the Edge Functions' 150 s wall
    -- clock); pg_net must not hang up first.
    timeout_milliseconds := 150000
  );
end
$$;
comment on function app.wake_function(text, jsonb) is 'Posts body to <konstruct_functions_url>/<function_name> through pg_net (sent after commit), signed with the Vault worker secret (header x-konstruct-signature: t=<unix>,v1=<hmac-sha256 of t.body>); the queued row holds no secret. Warns and returns null when the Vault secrets are missing. Internal.';

revoke all on function app.configure_functions(text, text) from public, anon, authenticated, service_role;
revoke all on function app.wake_function(text, jsonb) from public, anon, authenticated, service_role;
