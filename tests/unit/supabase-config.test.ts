// supabase/config.toml as the Supabase CLI (the `supabase` npm package, 2.x) reads it: no
// deprecated section, nothing it refuses. `supabase status` reads the config before it looks
// for Docker, so it runs offline; a broken copy shows the check can fail.
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'smol-toml'
import { afterAll, describe, expect, test } from 'vitest'
import { repoRoot } from '../support/stack.ts'

const run = promisify(execFile)
const scratch = mkdtempSync(join(tmpdir(), 'konstruct-cli-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

async function cliReads(workdir: string): Promise<string> {
  const cli = join(repoRoot, 'node_modules', '.bin', 'supabase')
  const env = { ...process.env, HOME: scratch, DOCKER_HOST: 'unix:///nonexistent/docker.sock', NO_COLOR: '1' }
  const result = await run(cli, ['status', '--workdir', workdir], { env, timeout: 60_000 }).catch(
    (error: { stdout?: string; stderr?: string }) => error,
  )
  return `${result.stdout ?? ''}${result.stderr ?? ''}`
}

describe('supabase/config.toml', () => {
  test('the Supabase CLI reads it without a warning or an error', { timeout: 120_000 }, async () => {
    const output = await cliReads(repoRoot)
    expect(output).not.toMatch(/Failed reading config|WARN|deprecated|Invalid/i)
  })

  test('a value the CLI refuses is reported (the check can fail)', { timeout: 120_000 }, async () => {
    const copy = join(scratch, 'project')
    cpSync(join(repoRoot, 'supabase', 'config.toml'), join(copy, 'supabase', 'config.toml'), { recursive: true })
    const config = readFileSync(join(copy, 'supabase', 'config.toml'), 'utf8')
    writeFileSync(join(copy, 'supabase', 'config.toml'), config.replace('deno_version = 2', 'deno_version = 7'))
    expect(await cliReads(copy)).toMatch(/Failed reading config: Invalid edge_runtime\.deno_version/)
  })

  test('declares every function folder with its entrypoint and the import map the functions share', () => {
    const config = parse(readFileSync(join(repoRoot, 'supabase', 'config.toml'), 'utf8')) as {
      functions: Record<string, { entrypoint?: string; import_map?: string; verify_jwt?: boolean }>
    }
    const folders = readdirSync(join(repoRoot, 'functions')).filter((name) =>
      existsSync(join(repoRoot, 'functions', name, 'index.ts')),
    )
    expect(Object.keys(config.functions).sort()).toEqual(folders.sort())
    for (const [name, fn] of Object.entries(config.functions)) {
      expect(fn.entrypoint, name).toBe(`../functions/${name}/index.ts`)
      expect(fn.import_map, name).toBe('../functions/deno.json')
    }
  })
})
