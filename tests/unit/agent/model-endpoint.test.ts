// A tenant's own model endpoint is called only over https at a public address, never
// redirected, and its failures reach the tenant's audit log as 'unavailable' only: the
// model URL is not a way to scan the platform's network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createModelClient, ModelCallFailed, type ModelTarget } from '../../../shared/agent/model.ts'
import { tenantModelEndpointGuard } from '../../../shared/agent/model-endpoint.ts'
import { readWorkerConfig } from '../../../shared/agent/worker/config.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes/fake-openai.ts'

let fake: FakeOpenAI
beforeAll(async () => {
  fake = await startFakeOpenAI()
})
afterAll(async () => {
  await fake.close()
})

const ask = { messages: [{ role: 'user' as const, content: 'Hello?' }] }
const publicDns: Record<string, string[]> = {
  'models.example.com': ['93.184.216.34'],
  'internal.example.com': ['10.0.0.7'],
  'rebind.example.com': ['93.184.216.35', '127.0.0.1'],
}
const resolveHost = async (host: string) => {
  const found = publicDns[host]
  if (!found) throw new Error('NXDOMAIN')
  return found
}

async function failure(target: ModelTarget, fetchImpl: typeof fetch) {
  try {
    await createModelClient({ fetch: fetchImpl }).complete(target, ask)
  } catch (error) {
    if (error instanceof ModelCallFailed) return error
    throw error
  }
  throw new Error('the call succeeded')
}

describe('tenant model endpoints', () => {
  const guard = tenantModelEndpointGuard({ allowLocalEndpoints: false, resolveHost })!

  it.each([
    ['http://127.0.0.1:11434/v1', 'loopback'],
    ['https://169.254.169.254/latest', 'cloud metadata'],
    ['https://10.1.2.3:8443/v1', 'private range'],
    ['https://[::ffff:0:7f00:1]/v1', 'IPv4-translated loopback'],
    ['https://internal.example.com/v1', 'a name resolving to a private address'],
    ['https://rebind.example.com/v1', 'a name with one loopback address'],
    ['http://models.example.com/v1', 'plain http to a public host'],
    ['file:///etc/passwd', 'not http'],
  ])('refuses %s (%s) without a request, reporting only "unavailable"', async (baseUrl) => {
    const seen: string[] = []
    const error = await failure({ baseUrl, apiKey: 'sk-tenant', model: 'm', guard, fallback: { model: 'm2' } }, (async (
      input: RequestInfo | URL,
    ) => {
      seen.push(String(input))
      return new Response('{}')
    }) as typeof fetch)
    expect(seen).toEqual([])
    expect(error.lastError.kind).toBe('unavailable')
    expect(error.attempts).toEqual([
      { model: 'm', ok: false, errorKind: 'unavailable', status: null },
      { model: 'm2', ok: false, errorKind: 'unavailable', status: null },
    ])
  })

  it('calls an https endpoint at a public address, on any port, and does not follow redirects', async () => {
    const seen: Array<{ url: string; redirect: RequestRedirect | undefined }> = []
    const error = await failure({ baseUrl: 'https://models.example.com:8443/v1', model: 'm', guard }, (async (
      input: RequestInfo | URL,
      init?: RequestInit,
    ) => {
      seen.push({ url: String(input), redirect: init?.redirect })
      return new Response(null, { status: 307, headers: { location: 'http://169.254.169.254/' } })
    }) as typeof fetch)
    expect(seen).toEqual([{ url: 'https://models.example.com:8443/v1/chat/completions', redirect: 'manual' }])
    // A failing tenant endpoint says nothing about how it failed: not the status, not the time.
    expect(error.attempts).toEqual([{ model: 'm', ok: false, errorKind: 'unavailable', status: null }])
  })

  it('with MODEL_ALLOW_LOCAL_ENDPOINTS the operator lets tenants use a local model server', async () => {
    expect(tenantModelEndpointGuard({ allowLocalEndpoints: true, resolveHost })).toBeNull()
    fake.enqueue({ text: 'local answer' })
    const result = await createModelClient().complete({ baseUrl: fake.url, model: 'm', guard: null }, ask)
    expect(result.content).toBe('local answer')
  })

  it('the worker holds tenant endpoints to https and public addresses unless the operator says otherwise', () => {
    const base = {
      SUPABASE_URL: 'http://127.0.0.1:1',
      SUPABASE_SECRET_KEYS: '{"default": "sb_secret_test"}',
      KONSTRUCT_WORKER_SECRET: 'a-worker-secret-of-at-least-32-characters',
    }
    expect(readWorkerConfig(base).allowLocalModelEndpoints).toBe(false)
    expect(readWorkerConfig({ ...base, MODEL_ALLOW_LOCAL_ENDPOINTS: 'true' }).allowLocalModelEndpoints).toBe(true)
  })
})
