// Where the local stack knowingly differs from a Supabase database, written down as
// tests of what local/ does; CI's run of ../shared/supabase-upstream/run.sh checks the
// upstream side (the pgTAP suite, also with pg-safeupdate on). What the product relies
// on and local/ does the same way is in supabase/tests/platform/upstream_parity.test.sql.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nativeDb, startTestStack, type TestStack } from '../support/stack.ts'

let stack: TestStack

beforeAll(async () => {
  stack = await startTestStack()
  await stack.db.asOwner((tx) =>
    tx.exec(`create table public.upstream_difference_probe (note text);
             grant all on public.upstream_difference_probe to service_role;
             insert into public.upstream_difference_probe values ('one'), ('two');`),
  )
}, 90_000)

afterAll(async () => {
  await stack?.close()
})

describe('the local stack differs from Supabase', () => {
  it("sets the API roles' statement timeouts as PostgREST does, but PGlite does not enforce them", async () => {
    const timeouts = await Promise.all(
      (['anon', 'authenticated', 'service_role'] as const).map((role) =>
        stack.db.asRequest({ role }, async (tx) => {
          const { rows } = await tx.query<{ t: string }>(`select current_setting('statement_timeout') as t`)
          return rows[0]!.t
        }),
      ),
    )
    expect(timeouts).toEqual(['3s', '8s', '0'])
    // On Supabase (and on a native PostgreSQL: --db native) this fails with 57014.
    const sleep = stack.db.asRequest({ role: 'anon' }, async (tx) => {
      await tx.exec(`set local statement_timeout = '50ms'`)
      return (await tx.query<{ done: boolean }>(`select pg_sleep(0.2) is not null as done`)).rows[0]!.done
    })
    if (nativeDb) await expect(sleep).rejects.toMatchObject({ code: '57014' })
    else expect(await sleep).toBe(true)
  })

  it('does not load pg-safeupdate: an unqualified DELETE in an API session goes through', async () => {
    // On Supabase, PostgREST's sessions refuse it: 21000 "DELETE requires a WHERE clause".
    // No product function does it (the harness runs the pgTAP suite with safeupdate on).
    const deleted = await stack.db.asRequest({ role: 'service_role' }, async (tx) => {
      return (await tx.query(`delete from public.upstream_difference_probe returning note`)).rows.length
    })
    expect(deleted).toBe(2)
  })

  it('runs everything as a superuser postgres, and realtime.messages is one table, not daily partitions', async () => {
    const { rows } = await stack.db.pg.query<{ superuser: boolean; kind: string }>(
      `select (select rolsuper from pg_roles where rolname = current_user) as superuser,
              (select relkind::text from pg_class where oid = 'realtime.messages'::regclass) as kind`,
    )
    // On Supabase: postgres is not a superuser (supautils decides), and relkind is 'p'.
    expect(rows[0]).toEqual({ superuser: true, kind: 'r' })
  })
})
