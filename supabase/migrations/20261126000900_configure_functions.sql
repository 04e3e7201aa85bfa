-- One call that tells the database where the edge functions are, so pg_net can wake
-- the agent worker after a job is enqueued.
--
--   select app.configure_functions('http://127.0.0.1:54321/functions/v1', '<service role key>');
--
-- Stores the URL in app.settings (functions_url) and the bearer token in Vault
-- (konstruct_functions_token). Run by the database owner only: the local stack calls it
-- on start; on Supabase run it once in the SQL editor (or from a deploy script).

create function app.configure_functions(functions_url text, bearer_token text default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  secret_id uuid;
begin
  if functions_url is null or btrim(functions_url) = '' then
    delete from app.settings s where s.key = 'functions_url';
  elsif functions_url !~ '^https?://' then
    raise exception 'functions_url must be an http(s) URL' using errcode = '22023';
  else
    insert into app.settings (key, value) values ('functions_url', rtrim(btrim(functions_url), '/'))
    on conflict (key) do update set value = excluded.value, updated_at = now();
  end if;
  if bearer_token is not null then
    select s.id into secret_id from vault.secrets s where s.name = 'konstruct_functions_token';
    if secret_id is null then
      perform vault.create_secret(bearer_token, 'konstruct_functions_token',
        'Bearer token pg_net sends to the agent-worker edge function');
    else
      perform vault.update_secret(secret_id, bearer_token);
    end if;
  end if;
end
$$;
comment on function app.configure_functions(text, text) is 'Sets where pg_net wakes the edge functions (app.settings functions_url) and the bearer token it sends (Vault secret konstruct_functions_token). Database owner only.';

revoke all on function app.configure_functions(text, text) from public, anon, authenticated, service_role;
