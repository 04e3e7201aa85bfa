// Builds the portal (web/build) once for all e2e files, only when web/ changed since the
// last build. Test files run in parallel processes, so a lock directory serializes it.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../../support/stack.ts'

const web = join(repoRoot, 'web')
const buildEntry = join(web, 'build', 'index.js')
const lockDir = join(web, '.e2e-build-lock')

function newestMtime(path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return s.mtimeMs
  let newest = s.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)))
  return newest
}

function isStale(): boolean {
  if (!existsSync(buildEntry)) return true
  // The portal bundles what it imports from shared/ ($shared), so a change there rebuilds it too.
  const sources = ['src', 'static', 'svelte.config.js', 'vite.config.ts', 'package.json']
    .map((p) => join(web, p))
    .concat(join(repoRoot, 'shared'))
    .filter((p) => existsSync(p))
  return Math.max(...sources.map(newestMtime)) > statSync(buildEntry).mtimeMs
}

export async function ensurePortalBuilt(): Promise<{ built: boolean; ms: number }> {
  const started = Date.now()
  for (;;) {
    if (!isStale()) return { built: false, ms: Date.now() - started }
    try {
      mkdirSync(lockDir)
    } catch {
      // Another file is building; a lock older than 3 minutes is left over from a crash.
      if (Date.now() - statSync(lockDir).mtimeMs > 180_000) rmSync(lockDir, { recursive: true, force: true })
      await new Promise((r) => setTimeout(r, 500))
      continue
    }
    try {
      if (!isStale()) return { built: false, ms: Date.now() - started }
      const result = spawnSync('npm', ['run', 'build', '-w', 'web'], { cwd: repoRoot, encoding: 'utf8' })
      if (result.status !== 0) throw new Error(`npm run build -w web failed:\n${result.stdout}\n${result.stderr}`)
      return { built: true, ms: Date.now() - started }
    } finally {
      rmSync(lockDir, { recursive: true, force: true })
    }
  }
}
