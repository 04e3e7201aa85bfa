// The arrows of docs/ARCHITECTURE.md, read from the code: every relative import of
// shared/ and local/ is resolved and checked against the rooms it may not enter, so an
// import that runs back up fails here instead of tangling the house.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, test } from 'vitest'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|js|mjs)$/.test(name) && !name.split('/').includes('node_modules'))
    .map((name) => join(dir, name))
}

/** What a file imports, as repository paths (static, re-exports and import() of a literal). */
function importsOf(file: string): string[] {
  const source = readFileSync(join(root, file), 'utf8')
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((imported) => imported.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => relative(root, resolve(root, dirname(file), name)))
}

interface Rule {
  /** Files the rule is about (a path prefix, or an exact file). */
  from: (file: string) => boolean
  /** Paths they must not import. */
  not: readonly string[]
  why: string
}

const under =
  (...prefixes: string[]) =>
  (file: string) =>
    prefixes.some((prefix) => file.startsWith(prefix))

const RULES: readonly Rule[] = [
  {
    from: under('shared/'),
    not: ['functions/', 'web/', 'local/', 'scripts/', 'tests/', 'bench/'],
    why: 'shared/ is imported by the functions and the portal; it imports neither',
  },
  {
    from: under('local/'),
    not: ['shared/', 'functions/', 'web/', 'scripts/'],
    why: 'local/ stands in for Supabase and imports nothing of the product',
  },
  {
    // Outbound delivery, the channels' own APIs and formats, and the channel-neutral modules
    // beside them sit below the webhook doors.
    from: (file) => file.startsWith('shared/channels/') && !file.startsWith('shared/channels/handlers/'),
    not: ['shared/channels/handlers/'],
    why: 'only the webhook handlers stand on shared/channels/handlers/',
  },
  {
    from: under('shared/channels/slack/', 'shared/channels/whatsapp/', 'shared/channels/webchat/'),
    not: ['shared/channels/delivery/'],
    why: "a channel's API and formats sit below outbound delivery",
  },
  {
    from: under('shared/channels/slack/'),
    not: ['shared/channels/whatsapp/', 'shared/channels/webchat/'],
    why: 'one channel never reads another',
  },
  {
    from: under('shared/channels/whatsapp/'),
    not: ['shared/channels/slack/', 'shared/channels/webchat/'],
    why: 'one channel never reads another',
  },
  {
    from: under('shared/channels/webchat/'),
    not: ['shared/channels/slack/', 'shared/channels/whatsapp/'],
    why: 'one channel never reads another',
  },
  {
    // The channel-neutral modules at the root of shared/channels/ know no channel.
    from: (file) => /^shared\/channels\/[^/]+$/.test(file),
    not: [
      'shared/channels/slack/',
      'shared/channels/whatsapp/',
      'shared/channels/webchat/',
      'shared/channels/delivery/',
    ],
    why: 'the channel-neutral modules (confirmation, settings, markdown …) know no channel',
  },
]

function violations(files: readonly string[]): string[] {
  const found: string[] = []
  for (const file of files) {
    for (const imported of importsOf(file)) {
      for (const rule of RULES) {
        if (rule.from(file) && rule.not.some((room) => imported.startsWith(room)))
          found.push(`${file} imports ${imported}: ${rule.why}`)
      }
    }
  }
  return found
}

describe('arrows point down', () => {
  const files = [...sourceFiles('shared'), ...sourceFiles('local')]

  test('the import reader sees the imports it checks', () => {
    // A reader that found nothing would pass every rule below.
    expect(importsOf('shared/channels/handlers/whatsapp-webhook.ts')).toEqual(
      expect.arrayContaining(['shared/channels/confirmation.ts', 'shared/channels/whatsapp/mod.ts']),
    )
    expect(importsOf('shared/channels/delivery/slack.ts')).toContain('shared/channels/slack/buttons.ts')
    expect(files).toContain('shared/channels/handlers/slack-events.ts')
  })

  test('no file of shared/ or local/ imports a room it must not know', () => {
    expect(violations(files)).toEqual([])
  })
})
