// Runs the SvelteKit portal (web/) as its own process beside the local stack. It
// talks to the stack over HTTP like any Supabase client.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export interface PortalOptions {
  root: string
  supabaseUrl: string
  /** The publishable key (sb_publishable_…): what a browser may hold. */
  publishableKey: string
  port: number
  /** 'dev' runs Vite's dev server; 'built' runs web/build (after `npm run build -w web`). */
  mode: 'dev' | 'built'
  quiet?: boolean
  /** More environment for the portal (tests: the web search provider the functions also get). */
  env?: Record<string, string>
}

export interface Portal {
  url: string
  process: ChildProcess
  stop(): Promise<void>
}

export async function startPortal(options: PortalOptions): Promise<Portal> {
  const web = join(options.root, 'web')
  const env = {
    ...process.env,
    PUBLIC_SUPABASE_URL: options.supabaseUrl,
    PUBLIC_SUPABASE_PUBLISHABLE_KEY: options.publishableKey,
    HOST: '127.0.0.1',
    PORT: String(options.port),
    ORIGIN: `http://127.0.0.1:${options.port}`,
    // The channels page and onboarding show the verify token the whatsapp-webhook function
    // checks: the same variable given to `npm start`, which passes it to the functions too.
    ...(process.env.WHATSAPP_VERIFY_TOKEN ? { WHATSAPP_VERIFY_TOKEN: process.env.WHATSAPP_VERIFY_TOKEN } : {}),
    ...options.env,
  }
  let args: string[]
  if (options.mode === 'built') {
    const entry = join(web, 'build', 'index.js')
    if (!existsSync(entry)) throw new Error('web/build is missing: run `npm run build -w web` first')
    args = [entry]
  } else {
    const vite = join(dirname(createRequire(join(web, 'package.json')).resolve('vite/package.json')), 'bin', 'vite.js')
    args = [vite, 'dev', '--host', '127.0.0.1', '--port', String(options.port), '--strictPort']
  }
  const child = spawn(process.execPath, args, { cwd: web, env, stdio: options.quiet ? 'pipe' : 'inherit' })
  const url = `http://127.0.0.1:${options.port}`
  await waitForHttp(url, child)
  return {
    url,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
        setTimeout(() => child.kill('SIGKILL'), 5000).unref()
      }),
  }
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the portal exited with code ${child.exitCode}`)
    try {
      await fetch(`${url}/login`, { signal: AbortSignal.timeout(2000) })
      return
    } catch {
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  throw new Error(`the portal did not answer at ${url} within ${timeoutMs} ms`)
}
