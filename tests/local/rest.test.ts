// /rest/v1 with the real supabase-js: functions of the api schema called under RLS
// as each role, PostgREST's result shapes, and its error codes and statuses. None
// of the bad requests changes data or stops the server.
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signLegacyJwt } from '../../local/keys.ts'
import { apiConfig } from '../../local/rest.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'

// Fixture objects are prefixed test_rest_ so they cannot collide with the product's api functions.
const fixtures = `
create schema if not exists api;
grant usage on schema api to anon, authenticated, service_role;
create schema test_rest_private;
grant usage on schema test_rest_private to authenticated, service_role;

create table test_rest_private.notes (
  id uuid primary key default gen_random_uuid(),
  owner uuid not null,
  title text not null unique,
  priority int not null default 0 check (priority >= 0),
  tags text[] not null default '{}',
  meta jsonb not null default '{}'
);
alter table test_rest_private.notes enable row level security;
alter table test_rest_private.notes force row level security;
grant select, insert on test_rest_private.notes to authenticated, service_role;
create policy "owners read their notes" on test_rest_private.notes
  for select to authenticated using (owner = (select auth.uid()));
create policy "owners add their notes" on test_rest_private.notes
  for insert to authenticated with check (owner = (select auth.uid()));

create function api.test_rest_my_notes() returns setof test_rest_private.notes
  language sql stable security invoker as $$ select * from test_rest_private.notes order by title $$;

create function api.test_rest_count_notes() returns int
  language sql stable security invoker as $$ select count(*)::int from test_rest_private.notes $$;

create function api.test_rest_add_note(title text, priority int default 0, tags text[] default '{}', meta jsonb default '{}')
  returns test_rest_private.notes language sql volatile security invoker as $$
  insert into test_rest_private.notes (owner, title, priority, tags, meta)
  values ((select auth.uid()), title, priority, tags, meta) returning *
$$;

create function api.test_rest_add_notes(titles text[]) returns setof test_rest_private.notes
  language sql volatile security invoker as $$
  insert into test_rest_private.notes (owner, title)
  select (select auth.uid()), t from unnest(titles) t returning *
$$;

create function api.test_rest_note_titles(min_priority int default 0) returns table (title text, priority int)
  language sql stable security invoker as $$
  select n.title, n.priority from test_rest_private.notes n where n.priority >= min_priority order by n.title
$$;

create function api.test_rest_types(id uuid, n int, labels text[], doc jsonb default null) returns jsonb
  language sql immutable security invoker as $$
  select jsonb_build_object('id', id, 'next', n + 1, 'labels', labels, 'label_count', cardinality(labels), 'doc', doc)
$$;

create function api.test_rest_whole(jsonb) returns jsonb
  language sql immutable security invoker as $$ select $1 $$;

create function api.test_rest_echo(payload jsonb) returns jsonb
  language sql immutable security invoker as $$ select payload $$;

create function api.test_rest_greet(name text) returns text
  language sql immutable security invoker as $$ select 'hello ' || name $$;
create function api.test_rest_greet(first text, last text) returns text
  language sql immutable security invoker as $$ select 'hello ' || first || ' ' || last $$;

create function api.test_rest_pick(a int) returns int language sql immutable as $$ select a $$;
create function api.test_rest_pick(a int, b int default 0) returns int language sql immutable as $$ select a + b $$;

create function api.test_rest_touch() returns void language sql volatile security invoker as $$ select $$;

create function api.test_rest_fail(reason text) returns void language plpgsql security invoker as $$
begin
  raise exception 'refused: %', reason using detail = 'the detail', hint = 'the hint';
end $$;

create function api.test_rest_teapot() returns void language plpgsql security invoker as $$
begin
  raise exception 'short and stout' using errcode = 'PT418';
end $$;

create function api.test_rest_whoami() returns jsonb language sql stable security invoker as $$
  select jsonb_build_object(
    'role', current_user,
    'sub', auth.uid(),
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'marker', current_setting('request.headers', true)::jsonb ->> 'x-test-marker',
    'search_path', current_setting('search_path'))
$$;

do $$
declare f regprocedure;
begin
  for f in select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'api' and p.proname like 'test\\_rest\\_%'
  loop
    execute format('revoke execute on function %s from public, anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end $$;
grant execute on function api.test_rest_whoami() to anon;
`

type Client = ReturnType<typeof client>

const userA = randomUUID()
const userB = randomUUID()
let stack: TestStack
let asA: Client
let asB: Client
let anon: Client
let service: Client

function client(apikey: string, headers: Record<string, string> = {}) {
  return createClient(stack.url, apikey, {
    global: { headers },
    // supabase-js asks for `public` unless told; this project exposes only `api`.
    db: { schema: 'api' },
    auth: { persistSession: false, autoRefreshToken: false },
    // Node 20 has no global WebSocket; realtime-js is constructed even though unused here.
    realtime: { transport: WebSocket as never },
  })
}

function clientWithToken(token: string): Client {
  return client(stack.keys.anonKey, { Authorization: `Bearer ${token}` })
}

async function userClient(sub: string): Promise<Client> {
  const jwt = await signLegacyJwt(
    stack.keys.jwtSecret,
    { sub, role: 'authenticated', aud: 'authenticated', email: `${sub}@example.test` },
    3600,
  )
  return clientWithToken(jwt)
}

async function noteCount(): Promise<number> {
  return stack.db.asOwner(async (tx) => {
    const { rows } = await tx.query<{ n: number }>('select count(*)::int as n from test_rest_private.notes')
    return rows[0].n
  })
}

/** A raw request to /rest/v1 with the anon key, for what supabase-js cannot send. */
function raw(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${stack.url}/rest/v1${path}`, {
    ...init,
    headers: { apikey: stack.keys.anonKey, 'content-type': 'application/json', ...init.headers },
  })
}

beforeAll(async () => {
  stack = await startTestStack()
  await stack.db.asOwner((tx) => tx.exec(fixtures))
  await stack.db.asOwner((tx) =>
    tx.query(
      `insert into test_rest_private.notes (owner, title, priority) values ($1, 'a: first', 1), ($1, 'a: second', 5), ($2, 'b: only', 3)`,
      [userA, userB],
    ),
  )
  asA = await userClient(userA)
  asB = await userClient(userB)
  anon = client(stack.keys.anonKey)
  service = client(stack.keys.serviceRoleKey)
})

afterAll(async () => {
  await stack?.close()
})

describe('RLS through api functions', () => {
  it('gives each user only their rows', async () => {
    const a = await asA.rpc('test_rest_my_notes')
    expect(a.error).toBeNull()
    expect(a.status).toBe(200)
    expect(a.data.map((n: { title: string }) => n.title)).toEqual(['a: first', 'a: second'])
    expect(a.data.every((n: { owner: string }) => n.owner === userA)).toBe(true)

    const b = await asB.rpc('test_rest_my_notes')
    expect(b.data.map((n: { title: string }) => n.title)).toEqual(['b: only'])
  })

  it('refuses anon with 401 and 42501', async () => {
    const { data, error, status } = await anon.rpc('test_rest_my_notes')
    expect(status).toBe(401)
    expect(data).toBeNull()
    expect(error).toMatchObject({ code: '42501', message: 'permission denied for function test_rest_my_notes' })
  })

  it('lets service_role see every row', async () => {
    const { data, error } = await service.rpc('test_rest_my_notes')
    expect(error).toBeNull()
    expect(data).toHaveLength(3)
  })

  it('sets role, claims, request headers, method, path and search_path like PostgREST', async () => {
    const asAnon = await client(stack.keys.anonKey, { 'x-test-marker': 'hello' }).rpc('test_rest_whoami')
    expect(asAnon.data).toEqual({
      role: 'anon',
      sub: null,
      method: 'POST',
      path: '/rpc/test_rest_whoami',
      marker: 'hello',
      search_path: '"api", "public", "extensions"',
    })
    const asUser = await asA.rpc('test_rest_whoami', {}, { get: true })
    expect(asUser.data).toMatchObject({ role: 'authenticated', sub: userA, method: 'GET' })
  })
})

describe('result shapes', () => {
  it('returns a scalar as a JSON scalar', async () => {
    const { data, status } = await asA.rpc('test_rest_count_notes')
    expect(status).toBe(200)
    expect(data).toBe(2)
  })

  it('returns setof / returns table as an array and a single composite as an object', async () => {
    const titles = await asA.rpc('test_rest_note_titles', { min_priority: 2 })
    expect(titles.data).toEqual([{ title: 'a: second', priority: 5 }])

    const added = await asB.rpc('test_rest_add_note', { title: 'b: added', priority: 2 })
    expect(added.error).toBeNull()
    expect(added.data).toMatchObject({ title: 'b: added', owner: userB, priority: 2, tags: [], meta: {} })
    expect(Array.isArray(added.data)).toBe(false)
  })

  it('answers 204 with no data for void', async () => {
    const { data, error, status } = await asA.rpc('test_rest_touch')
    expect(error).toBeNull()
    expect(status).toBe(204)
    expect(data).toBeNull()
  })

  it('returns one object for .single() and 406 PGRST116 otherwise', async () => {
    const one = await asB.rpc('test_rest_my_notes').eq('title', 'b: only').single()
    expect(one.error).toBeNull()
    expect(one.data).toMatchObject({ title: 'b: only', owner: userB })

    const many = await asA.rpc('test_rest_my_notes').single()
    expect(many.status).toBe(406)
    expect(many.error).toMatchObject({ code: 'PGRST116', details: 'The result contains 2 rows' })

    const maybe = await asA.rpc('test_rest_my_notes').eq('title', 'nothing').maybeSingle()
    expect(maybe.error).toBeNull()
    expect(maybe.data).toBeNull()
  })

  it('rolls back a call whose result is refused by .single()', async () => {
    const before = await noteCount()
    const { error, status } = await asA.rpc('test_rest_add_notes', { titles: ['a: x', 'a: y'] }).single()
    expect(status).toBe(406)
    expect(error?.code).toBe('PGRST116')
    expect(await noteCount()).toBe(before)
  })

  it('applies select, filters, order, limit and offset to the result', async () => {
    const { data, error } = await service
      .rpc('test_rest_my_notes', {}, { get: true })
      .select('title,p:priority')
      .gt('priority', 0)
      .order('priority', { ascending: false })
      .limit(2)
    expect(error).toBeNull()
    expect(data).toEqual([
      { title: 'a: second', p: 5 },
      { title: 'b: only', p: 3 },
    ])

    const filtered = await service
      .rpc('test_rest_my_notes')
      .select('title')
      .in('title', ['a: first', 'b: only'])
      .neq('priority', 3)
      .like('title', 'a:*')
    expect(filtered.data).toEqual([{ title: 'a: first' }])

    const paged = await asA.rpc('test_rest_my_notes').select('title').range(1, 1)
    expect(paged.data).toEqual([{ title: 'a: second' }])

    const isNull = await asA.rpc('test_rest_my_notes').select('title').is('owner', null)
    expect(isNull.data).toEqual([])
  })

  it('counts with Prefer: count=exact, also on HEAD', async () => {
    const page = await service.rpc('test_rest_my_notes', {}, { count: 'exact' }).range(0, 0)
    expect(page.error).toBeNull()
    expect(page.data).toHaveLength(1)
    expect(page.count).toBe(await noteCount())
    expect(page.status).toBe(206)

    const head = await asA.rpc('test_rest_my_notes', {}, { head: true, count: 'exact' })
    expect(head.error).toBeNull()
    expect(head.data).toBeNull()
    expect(head.count).toBe(2)
  })

  it('answers a clear 400 for what it does not support', async () => {
    const { error, status } = await asA.rpc('test_rest_my_notes').or('priority.eq.1,priority.eq.5')
    expect(status).toBe(400)
    expect(error?.code).toBe('PGRST127')
  })
})

describe('arguments', () => {
  it('converts JSON values to uuid, int, text[] and jsonb arguments', async () => {
    const id = randomUUID()
    const doc = { nested: { list: [1, 'two', null] } }
    const { data, error } = await asA.rpc('test_rest_types', { id, n: 41, labels: ['x', 'y, z'], doc })
    expect(error).toBeNull()
    expect(data).toEqual({ id, next: 42, labels: ['x', 'y, z'], label_count: 2, doc })
  })

  it('takes arguments from the query string on GET, cast to their types', async () => {
    const id = randomUUID()
    const { data, error } = await asA.rpc('test_rest_types', { id, n: 1, labels: ['p', 'q'] }, { get: true })
    expect(error).toBeNull()
    expect(data).toEqual({ id, next: 2, labels: ['p', 'q'], label_count: 2, doc: null })
  })

  it('reports a badly typed argument as 400 22P02', async () => {
    const { error, status } = await asA.rpc('test_rest_types', { id: 'not-a-uuid', n: 1, labels: [] })
    expect(status).toBe(400)
    expect(error?.code).toBe('22P02')
  })

  it('resolves overloads by argument names and refuses an ambiguous call with 300', async () => {
    expect((await asA.rpc('test_rest_greet', { name: 'ada' })).data).toBe('hello ada')
    expect((await asA.rpc('test_rest_greet', { first: 'ada', last: 'lovelace' })).data).toBe('hello ada lovelace')
    const { error, status } = await asA.rpc('test_rest_pick', { a: 1 })
    expect(status).toBe(300)
    expect(error?.code).toBe('PGRST203')
    expect((await asA.rpc('test_rest_pick', { a: 1, b: 2 })).data).toBe(3)
  })

  it('calls a function as it is now, right after it was replaced, renamed or dropped', async () => {
    // On a native server the gateway keeps a schema cache; a DDL statement must never leave it stale.
    const define = (sql: string) => stack.db.asOwner((tx) => tx.exec(sql))
    await define(`create function api.test_rest_shape(n int) returns int language sql as $$ select n + 1 $$;
      grant execute on function api.test_rest_shape(int) to authenticated;`)
    expect((await asA.rpc('test_rest_shape', { n: 1 })).data).toBe(2)
    expect((await asA.rpc('test_rest_shape', { n: 2 })).data).toBe(3)
    // Other parameters and a row instead of a scalar.
    await define(`drop function api.test_rest_shape(int);
      create function api.test_rest_shape(label text) returns table (label text, size int)
        language sql as $$ select label, length(label) $$;
      grant execute on function api.test_rest_shape(text) to authenticated;`)
    expect((await asA.rpc('test_rest_shape', { label: 'abc' })).data).toEqual([{ label: 'abc', size: 3 }])
    const old = await asA.rpc('test_rest_shape', { n: 1 })
    expect(old.error?.code).toBe('PGRST202')
    await define('drop function api.test_rest_shape(text)')
    const gone = await asA.rpc('test_rest_shape', { label: 'abc' })
    expect(gone.status).toBe(404)
    expect(gone.error?.code).toBe('PGRST202')
  })

  it('passes the whole body to a single unnamed jsonb parameter, or with params=single-object', async () => {
    const body = { anything: [1, { deep: true }] }
    expect((await asA.rpc('test_rest_whole', body)).data).toEqual(body)
    expect((await asA.rpc('test_rest_echo', { payload: body })).data).toEqual(body)

    const jwt = await signLegacyJwt(stack.keys.jwtSecret, { sub: userA, role: 'authenticated' }, 60)
    const res = await raw('/rpc/test_rest_echo', {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, prefer: 'params=single-object' },
      body: JSON.stringify(body),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual(body)
  })

  it('does not run a writing function on GET (read-only transaction, 405)', async () => {
    const before = await noteCount()
    const { error, status } = await asA.rpc('test_rest_add_note', { title: 'a: via get' }, { get: true })
    expect(status).toBe(405)
    expect(error?.code).toBe('25006')
    expect(await noteCount()).toBe(before)
  })
})

describe('errors', () => {
  it('answers 404 PGRST202 for an unknown function, with a hint', async () => {
    const { error, status } = await asA.rpc('test_rest_my_note', { x: 1 })
    expect(status).toBe(404)
    expect(error).toEqual({
      code: 'PGRST202',
      message: 'Could not find the function api.test_rest_my_note(x) in the schema cache',
      details:
        'Searched for the function api.test_rest_my_note with parameter x or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function api.test_rest_my_notes',
    })
    const wrongArgs = await asA.rpc('test_rest_add_note', { title: 'x', priorty: 1 })
    expect(wrongArgs.status).toBe(404)
    expect(wrongArgs.error?.hint).toBe(
      'Perhaps you meant to call the function api.test_rest_add_note(meta, priority, tags, title)',
    )
  })

  it('maps a unique violation to 409 23505 and a check violation to 400 23514', async () => {
    const dup = await asA.rpc('test_rest_add_note', { title: 'a: first' })
    expect(dup.status).toBe(409)
    expect(dup.error).toMatchObject({ code: '23505' })
    // Postgres leaves out the key's value when the table has RLS.
    expect(dup.error?.message).toContain('duplicate key value violates unique constraint')

    const negative = await asA.rpc('test_rest_add_note', { title: 'a: negative', priority: -1 })
    expect(negative.status).toBe(400)
    expect(negative.error?.code).toBe('23514')
  })

  it('maps raise exception to 400 P0001 with message, details and hint', async () => {
    const { error, status } = await asA.rpc('test_rest_fail', { reason: 'no' })
    expect(status).toBe(400)
    expect(error).toEqual({ code: 'P0001', message: 'refused: no', details: 'the detail', hint: 'the hint' })
  })

  it("honours RAISE ... USING ERRCODE = 'PTnnn' as the status", async () => {
    const { error, status } = await asA.rpc('test_rest_teapot')
    expect(status).toBe(418)
    expect(error?.message).toBe('short and stout')
  })

  it('refuses malformed JSON with 400 PGRST102', async () => {
    const res = await raw('/rpc/test_rest_whoami', { method: 'POST', body: '{"oops": ' })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body).toMatchObject({ code: 'PGRST102', details: null, hint: null })
    expect(typeof body.message).toBe('string')
  })

  it('refuses a body over the limit with 413', async () => {
    const huge = JSON.stringify({ payload: 'x'.repeat(3 * 1024 * 1024) })
    const res = await raw('/rpc/test_rest_echo', { method: 'POST', body: huge })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ message: 'Request size limit exceeded' })
  })

  it('refuses a forged JWT with 401 PGRST301', async () => {
    const forged = await signLegacyJwt(
      'a-different-secret-that-is-at-least-32-characters',
      { sub: userA, role: 'service_role' },
      3600,
    )
    const { data, error, status } = await clientWithToken(forged).rpc('test_rest_my_notes')
    expect(status).toBe(401)
    expect(data).toBeNull()
    expect(error?.code).toBe('PGRST301')
  })

  it('refuses an expired JWT with 401 PGRST303', async () => {
    const expired = await signLegacyJwt(stack.keys.jwtSecret, { sub: userA, role: 'authenticated' }, -60)
    const { error, status } = await clientWithToken(expired).rpc('test_rest_my_notes')
    expect(status).toBe(401)
    expect(error).toMatchObject({ code: 'PGRST303', message: 'JWT expired' })
  })

  it('refuses a request without an API key, and roles the stack does not serve', async () => {
    const res = await fetch(`${stack.url}/rest/v1/rpc/test_rest_whoami`, { method: 'POST', body: '{}' })
    expect(res.status).toBe(401)

    const postgres = await signLegacyJwt(stack.keys.jwtSecret, { role: 'postgres' }, 60)
    expect((await clientWithToken(postgres).rpc('test_rest_whoami')).status).toBe(403)
    const nobody = await signLegacyJwt(stack.keys.jwtSecret, { role: 'nobody' }, 60)
    expect((await clientWithToken(nobody).rpc('test_rest_whoami')).status).toBe(401)
  })

  it('answers 404 for tables: only functions are exposed', async () => {
    const { data, error, status } = await service.from('notes').select()
    expect(status).toBe(404)
    expect(data).toBeNull()
    expect(error?.code).toBe('PGRST205')
    expect(error?.details).toContain('only functions')
  })

  it('answers 406 PGRST106 for a schema that is not exposed', async () => {
    const { error, status } = await asA.schema('test_rest_private').rpc('test_rest_my_notes')
    expect(status).toBe(406)
    expect(error).toMatchObject({ code: 'PGRST106', message: 'The schema must be one of the following: api' })
  })

  it('still answers afterwards, and no refused request changed any data', async () => {
    expect(await noteCount()).toBe(4) // three fixtures and 'b: added'
    const { data } = await service.rpc('test_rest_my_notes').select('title')
    expect(data).toEqual([{ title: 'a: first' }, { title: 'a: second' }, { title: 'b: added' }, { title: 'b: only' }])
    const root = await raw('/')
    expect(root.status).toBe(200)
  })
})

describe('config.toml', () => {
  it('reads schemas, extra_search_path and max_rows from [api], multi-line arrays included', () => {
    const root = mkdtempSync(join(tmpdir(), 'konstruct-config-'))
    mkdirSync(join(root, 'supabase'))
    writeFileSync(
      join(root, 'supabase', 'config.toml'),
      `
[api]
enabled = true
schemas = ["api", "other"] # comment
extra_search_path = [
  "public",
  "extensions",
]
max_rows = 50

[db]
schemas = ["nope"]
`,
    )
    try {
      expect(apiConfig(root)).toEqual({
        schemas: ['api', 'other'],
        extraSearchPath: ['public', 'extensions'],
        maxRows: 50,
      })
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
