// One e2e environment per test file: a fresh in-memory local stack, the built portal
// on a free port, and headless Debian Chromium driven by playwright-core.
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { startPortal, type Portal } from '../../../local/portal.ts'
import { repoRoot, startTestStack, type TestStack } from '../../support/stack.ts'
import { ensurePortalBuilt } from './portal-build.ts'

export const artifactsDir = join(repoRoot, 'tests', 'e2e', 'artifacts')
export const DEMO = {
  email: 'admin@konstruct.local',
  password: 'konstruct-demo',
  tenantId: '10000000-0000-4000-8000-000000000001',
  tenantSlug: 'demo',
  agentId: '20000000-0000-4000-8000-000000000001',
  webChatId: '30000000-0000-4000-8000-000000000001',
}

export const PHONE = { width: 390, height: 844 }
export const DESKTOP = { width: 1280, height: 860 }

export interface E2E {
  stack: TestStack
  portal: Portal
  browser: Browser
  timings: Record<string, number>
  newContext(options?: {
    viewport?: { width: number; height: number }
    colorScheme?: 'light' | 'dark'
  }): Promise<BrowserContext>
  close(): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface E2EOptions {
  /** More environment for the functions (e.g. worker timings, MODEL_ALLOW_LOCAL_ENDPOINTS). */
  functionEnv?: Record<string, string>
}

export async function startE2E(options: E2EOptions = {}): Promise<E2E> {
  const timings: Record<string, number> = {}
  let t = Date.now()
  const build = await ensurePortalBuilt()
  timings.build = build.ms
  t = Date.now()
  // No model configured: agents answer in their honest offline mode, deterministically.
  const stack = await startTestStack({
    functionEnv: { OPENAI_BASE_URL: '', OPENAI_API_KEY: '', ...options.functionEnv },
  })
  timings.stack = Date.now() - t
  t = Date.now()
  const portal = await startPortal({
    root: repoRoot,
    mode: 'built',
    port: await freePort(),
    supabaseUrl: stack.url,
    publishableKey: stack.keys.publishableKey,
    quiet: !process.env.PORTAL_LOG,
    // The agent designer offers web search when the functions have a provider: both read the same variable.
    env: Object.fromEntries(
      Object.entries(options.functionEnv ?? {}).filter(([key]) => key.startsWith('KONSTRUCT_WEB_SEARCH_')),
    ),
  })
  if (process.env.PORTAL_LOG) {
    portal.process.stdout?.pipe(process.stdout)
    portal.process.stderr?.pipe(process.stderr)
  } else {
    portal.process.stdout?.resume()
    portal.process.stderr?.on('data', (chunk) => process.stderr.write(`[portal] ${chunk}`))
  }
  timings.portal = Date.now() - t
  t = Date.now()
  // playwright gives every launch a fresh temporary profile (user data dir) of its own.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  timings.browser = Date.now() - t
  mkdirSync(artifactsDir, { recursive: true })
  return {
    stack,
    portal,
    browser,
    timings,
    async newContext(options = {}) {
      const context = await browser.newContext({
        baseURL: portal.url,
        viewport: options.viewport ?? DESKTOP,
        colorScheme: options.colorScheme ?? 'light',
      })
      // Generous: CI runs these on two cores right after the pgTAP suite and the other lanes.
      context.setDefaultTimeout(20_000)
      return context
    },
    async close() {
      await browser.close().catch(() => {})
      await portal.stop()
      await stack.close()
    },
  }
}

/** Navigates and waits until Svelte has hydrated the page, so typing is not lost. */
export async function open(page: Page, path: string) {
  const response = await page.goto(path)
  await page.locator('html[data-hydrated="true"]').waitFor({ state: 'attached' })
  return response
}

export async function signIn(page: Page, email: string, password: string, next = '/'): Promise<void> {
  await open(page, `/login?next=${encodeURIComponent(next)}`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((url) => !url.pathname.startsWith('/login'))
  await page.locator('html[data-hydrated="true"]').waitFor({ state: 'attached' })
}

/** Waits until the tenant layout's Realtime subscription is joined. */
export async function waitLive(page: Page): Promise<void> {
  await page.locator('.shell[data-live="live"]').waitFor()
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true })
}

/** True when the page is wider than its viewport (content would scroll sideways). */
export async function overflowsHorizontally(page: Page): Promise<boolean> {
  return (await sidewaysOverflow(page)).length > 0
}

/** Sideways scrolling of the window, and elements cut off at the right edge (outside any scrolling
 * container such as a wide table's wrapper), described for a readable failure. */
export async function sidewaysOverflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const w = window.innerWidth
    window.scrollTo(10_000, window.scrollY)
    const scrolled = window.scrollX
    window.scrollTo(0, window.scrollY)
    const sticking = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > w + 1)
      .filter((el) => {
        // Content that scrolls inside its own container (a wide table) is fine.
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return false
        }
        return true
      })
      .slice(0, 6)
      .map(
        (el) =>
          `${el.tagName.toLowerCase()}.${String((el as HTMLElement).className).replace(/\s+/g, '.')} right=${Math.round(el.getBoundingClientRect().right)}`,
      )
    return scrolled > 0 ? [`the window scrolls sideways by ${scrolled}px`, ...sticking] : sticking
  })
}
