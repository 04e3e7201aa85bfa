// supabase/config.toml, parsed with a real TOML parser (smol-toml) and re-read when the
// file changes. The Auth server, the REST gateway and the function host each take the
// part they honour; a file that is not valid TOML is an error, not a partial read.
import { statSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, type TomlTable } from 'smol-toml'

const cache = new Map<string, { mtimeMs: number; config: TomlTable }>()

/** The parsed config.toml of the repository at `root`; an empty table when there is none. */
export function readProjectConfig(root: string): TomlTable {
  const file = join(root, 'supabase', 'config.toml')
  let mtimeMs: number
  try {
    mtimeMs = statSync(file).mtimeMs
  } catch {
    return {}
  }
  const cached = cache.get(file)
  if (cached?.mtimeMs === mtimeMs) return cached.config
  let config: TomlTable
  try {
    config = parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new Error(`supabase/config.toml is not valid TOML: ${(error as Error).message}`, { cause: error })
  }
  cache.set(file, { mtimeMs, config })
  return config
}

/** A table inside the config (`section('auth', 'email')` is [auth.email]); empty when absent. */
export function section(config: TomlTable, ...path: string[]): TomlTable {
  let table: unknown = config
  for (const key of path) table = isTable(table) ? table[key] : undefined
  return isTable(table) ? table : {}
}

function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}
