// Runs supabase/tests/**/*.test.sql (pgTAP) on a fresh in-memory database with the
// migrations and seed applied, the way `supabase test db` runs them on Supabase; or
// on a native PostgreSQL (a throwaway cluster, or a server by URL).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { LocalDb } from './db.ts'
import { startPostgres, type NativePostgres } from './postgres.ts'

export interface PgTapFileResult {
  file: string
  passed: number
  failed: number
  planned: number | undefined
  error?: string
  lines: string[]
}

export function findTestFiles(dir: string): string[] {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  return entries.sort().flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return findTestFiles(path)
    return name.endsWith('.test.sql') ? [path] : []
  })
}

/**
 * The file's SQL with psql's `\ir <file>` lines replaced by that file's text (a path
 * relative to the including file), as psql and pg_prove do under `supabase test db`.
 */
export function readSqlWithIncludes(path: string, seen: string[] = []): string {
  if (seen.includes(path)) throw new Error(`\\ir cycle: ${[...seen, path].join(' -> ')}`)
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => {
      const include = /^\\ir\s+(\S+)\s*$/.exec(line)
      return include ? readSqlWithIncludes(resolve(dirname(path), include[1]), [...seen, path]) : line
    })
    .join('\n')
}

/**
 * `only`: run just the files whose path contains one of these strings (all when empty).
 * `database`: omitted or 'pglite', 'native' (a throwaway cluster) or a postgres://… URL.
 */
export async function runPgTap(
  root: string,
  print: (line: string) => void,
  only: string[] = [],
  database?: string,
): Promise<PgTapFileResult[]> {
  const files = findTestFiles(join(root, 'supabase', 'tests')).filter(
    (path) => only.length === 0 || only.some((part) => relative(root, path).includes(part)),
  )
  let cluster: NativePostgres | undefined
  if (database === 'native') cluster = await startPostgres({ root, schema: false })
  const url = cluster?.url ?? (database && database !== 'pglite' ? database : undefined)
  // One connection, so that each file's session state is reset before the next.
  const db = await LocalDb.open({ root, url, poolSize: 1 }).catch(async (error: unknown) => {
    await cluster?.stop()
    throw error
  })
  const results: PgTapFileResult[] = []
  try {
    for (const path of files) {
      const file = relative(root, path)
      const result: PgTapFileResult = { file, passed: 0, failed: 0, planned: undefined, lines: [] }
      try {
        const outputs = await db.pg.exec(readSqlWithIncludes(path))
        for (const output of outputs) {
          for (const row of output.rows) {
            const values = Object.values(row)
            if (values.length !== 1 || typeof values[0] !== 'string') continue
            for (const line of (values[0] as string).split('\n')) result.lines.push(line)
          }
        }
      } catch (error) {
        result.error = (error as Error).message
        await db.pg.exec('rollback').catch(() => {})
      }
      await db.pg.exec('reset role').catch(() => {})
      for (const line of result.lines) {
        const plan = /^1\.\.(\d+)/.exec(line)
        if (plan) result.planned = Number(plan[1])
        else if (/^ok \d+/.test(line)) result.passed++
        else if (/^not ok \d+/.test(line)) result.failed++
      }
      const count = result.passed + result.failed
      const ok = !result.error && result.failed === 0 && result.planned === count
      print(`${ok ? 'ok    ' : 'FAILED'} ${file} (${result.passed}/${result.planned ?? '?'} passed)`)
      if (!ok) {
        for (const line of result.lines) if (!/^ok /.test(line)) print(`       ${line}`)
        if (result.error) print(`       error: ${result.error}`)
        if (result.planned !== count) print(`       planned ${result.planned ?? 'nothing'}, ran ${count}`)
      }
      results.push(result)
    }
  } finally {
    await db.close()
    await cluster?.stop()
  }
  return results
}
