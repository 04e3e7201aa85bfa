// functions/.env.example is the list of every variable a function reads: each one read in
// functions/ or shared/ (Deno.env.get, requireEnv/optionalEnv/numberEnv, the worker's env
// schema, the project's keys) must be listed there with a comment above it. And no code of
// the functions, shared/ or the portal reads the legacy JWT secret.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, test } from 'vitest'
import { repoRoot } from '../support/stack.ts'

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'node_modules' || name.startsWith('.')) return []
    if (statSync(path).isDirectory()) return sources(path)
    return /\.(ts|js|svelte)$/.test(name) ? [path] : []
  })
}

/** Variable names read by the code, with the file that reads each. */
function variablesRead(): Map<string, string> {
  const read = new Map<string, string>()
  const patterns = [
    /Deno\.env\.get\(\s*'([A-Z][A-Z0-9_]*)'/g,
    /(?:requireEnv|optionalEnv|numberEnv)\(\s*env,\s*'([A-Z][A-Z0-9_]*)'/g,
    /namedKeys\(\s*env,\s*'([A-Z][A-Z0-9_]*)',\s*'([A-Z][A-Z0-9_]*)'/g,
  ]
  for (const file of [...sources(join(repoRoot, 'functions')), ...sources(join(repoRoot, 'shared'))]) {
    const text = readFileSync(file, 'utf8')
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        for (const name of match.slice(1)) if (name) read.set(name, relative(repoRoot, file))
      }
    }
    // A zod schema over the environment: its keys are the variables.
    const schema = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\)/.exec(text)
    for (const match of schema?.[1]?.matchAll(/^\s{2}([A-Z][A-Z0-9_]*):/gm) ?? []) {
      read.set(match[1]!, relative(repoRoot, file))
    }
  }
  return read
}

describe('functions/.env.example', () => {
  const example = readFileSync(join(repoRoot, 'functions', '.env.example'), 'utf8').split('\n')
  const listed = new Map<string, number>()
  example.forEach((line, i) => {
    const match = /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(line)
    if (match) listed.set(match[1]!, i)
  })

  test('lists every variable a function reads', () => {
    const read = variablesRead()
    expect(read.size).toBeGreaterThan(40) // the scan found the code's variables
    const missing = [...read].filter(([name]) => !listed.has(name)).map(([name, file]) => `${name} (${file})`)
    expect(missing).toEqual([])
  })

  test('explains each variable in a comment above it', () => {
    const bare = [...listed].filter(([, line]) => {
      // The comment may sit above a small group of related variables.
      for (let i = line - 1; i >= 0; i--) {
        const text = example[i]!.trim()
        if (/^#?\s*[A-Z][A-Z0-9_]*=/.test(text)) continue
        return !text.startsWith('#') || text.startsWith('# ---')
      }
      return true
    })
    expect(bare.map(([name]) => name)).toEqual([])
  })
})

test('no function, shared module or portal source reads the legacy JWT secret', () => {
  const readers = [
    ...sources(join(repoRoot, 'functions')),
    ...sources(join(repoRoot, 'shared')),
    ...sources(join(repoRoot, 'web', 'src')),
  ].filter((file) => /SUPABASE_JWT_SECRET|WEB_CHAT_JWT_SECRET|\bJWT_SECRET\b/.test(readFileSync(file, 'utf8')))
  expect(readers.map((file) => relative(repoRoot, file))).toEqual([])
})
