// The model check the settings page runs before saving: one tiny request, a sentence
// that says what is wrong, and no call to a private address unless the operator
// trusts that host. The function reads the tenant's saved settings as the worker does.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Api } from '../../../shared/api/client.ts'
import type { Project } from '../../../shared/api/project.ts'
import { checkModelEndpoint } from '../../../shared/agent/model-check.ts'
import { createModelCheckHandler } from '../../../shared/agent/model-check-function.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes/fake-openai.ts'

let openai: FakeOpenAI
beforeAll(async () => {
  openai = await startFakeOpenAI()
})
afterAll(async () => {
  await openai.close()
})

const trusted = { resolveHost: async () => ['127.0.0.1'], trustedHosts: ['127.0.0.1'] }

describe('checkModelEndpoint', () => {
  test('a working endpoint answers one tiny request with the key and model', async () => {
    const before = openai.requests.length
    const result = await checkModelEndpoint({ baseUrl: openai.url, apiKey: 'sk-right', model: 'gpt-test' }, trusted)
    expect(result).toMatchObject({ ok: true, outcome: 'ok', message: 'The model “gpt-test” answered.' })
    const sent = openai.requests.slice(before)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.headers['authorization']).toBe('Bearer sk-right')
    expect(sent[0]!.body).toMatchObject({ model: 'gpt-test', max_tokens: 1 })
  })

  test.each([
    [401, 'key_refused', 'The endpoint refused the API key (HTTP 401). Check the key.'],
    [
      404,
      'not_found',
      'The endpoint answered 404: check the base URL (it usually ends in /v1) and that the model “gpt-test” exists.',
    ],
    [429, 'rate_limited', 'The endpoint is rate limiting this key or its quota is used up (HTTP 429).'],
    [503, 'server_error', 'The endpoint failed (HTTP 503). Try again later.'],
  ])('HTTP %i is explained, never the provider text', async (status, outcome, message) => {
    openai.failNext(1, { status })
    const result = await checkModelEndpoint({ baseUrl: openai.url, apiKey: 'sk-wrong', model: 'gpt-test' }, trusted)
    expect(result).toMatchObject({ ok: false, outcome, message, status })
    expect(result.message).not.toContain('scripted failure')
  })

  test('a private address is refused without a request unless the host is trusted', async () => {
    const before = openai.requests.length
    const result = await checkModelEndpoint(
      { baseUrl: openai.url.replace(/^http:/, 'https:'), apiKey: 'sk', model: 'gpt-test' },
      { resolveHost: async () => ['127.0.0.1'] },
    )
    expect(result).toMatchObject({ ok: false, outcome: 'refused_address' })
    expect(openai.requests.length).toBe(before)
  })

  test('a plain http endpoint is refused without a request unless the host is trusted: the key would travel in clear', async () => {
    const before = openai.requests.length
    const result = await checkModelEndpoint(
      { baseUrl: openai.url, apiKey: 'sk', model: 'gpt-test' },
      { resolveHost: async () => ['93.184.216.34'] },
    )
    expect(result).toMatchObject({ ok: false, outcome: 'invalid_url', message: expect.stringContaining('https') })
    expect(openai.requests.length).toBe(before)
  })

  test("'*' trusts every host (MODEL_ALLOW_LOCAL_ENDPOINTS=true)", async () => {
    openai.enqueue({ text: 'OK' })
    const result = await checkModelEndpoint(
      { baseUrl: openai.url, apiKey: 'sk', model: 'gpt-test' },
      { resolveHost: async () => ['127.0.0.1'], trustedHosts: ['*'] },
    )
    expect(result.ok).toBe(true)
  })

  test('a name that resolves to a private address is refused too', async () => {
    const result = await checkModelEndpoint(
      { baseUrl: 'https://models.example.test/v1', apiKey: 'sk', model: 'm' },
      { resolveHost: async () => ['10.1.2.3'] },
    )
    expect(result.outcome).toBe('refused_address')
  })

  test('an endpoint that is not OpenAI-compatible says so', async () => {
    openai.enqueue({ raw: '<html>hello</html>', contentType: 'text/html' })
    const result = await checkModelEndpoint({ baseUrl: openai.url, apiKey: null, model: 'm' }, trusted)
    expect(result).toMatchObject({ ok: false, outcome: 'not_openai_compatible' })
  })

  test('nothing listening is unreachable', async () => {
    const result = await checkModelEndpoint({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: null, model: 'm' }, trusted)
    expect(result).toMatchObject({ ok: false, outcome: 'unreachable' })
  })
})

describe('the model-check function and the saved settings', () => {
  const tenantId = '10000000-0000-4000-8000-000000000001'
  const check = (saved: unknown) =>
    createModelCheckHandler(
      {
        project: {} as Project,
        platform: { baseUrl: openai.url, apiKey: 'sk-platform', model: null },
        trustedHosts: ['127.0.0.1'],
      },
      {
        resolveHost: trusted.resolveHost,
        verifyUser: async () => ({ sub: 'owner', role: 'authenticated', is_anonymous: false }),
        userRpc: () => (async () => ({ my_role: 'owner', model_settings: saved, has_own_llm_key: true })) as Api,
        serviceRpc: (async () => 'sk-tenant-own') as Api,
        log: () => {},
      },
    )(
      new Request('http://127.0.0.1/functions/v1/model-check', {
        method: 'POST',
        headers: { authorization: 'Bearer a-session' },
        body: JSON.stringify({ tenant_id: tenantId }),
      }),
    )

  test('a saved endpoint that does not fit is reported, and no endpoint gets the saved key in its place', async () => {
    const before = openai.requests.length
    for (const base_url of [42, 'ftp://llm.example.com']) {
      const response = await check({ base_url, model: 'saved-model' })
      expect(await response.json()).toMatchObject({
        ok: false,
        outcome: 'invalid_url',
        message: 'The saved endpoint is not an http(s) URL: enter the endpoint again, or clear it.',
      })
    }
    expect(openai.requests.length).toBe(before)
  })

  test('a saved endpoint that fits is checked with the saved key and model', async () => {
    const before = openai.requests.length
    const response = await check({ base_url: openai.url, model: 'saved-model', top_p: 0.9 })
    expect(await response.json()).toMatchObject({ ok: true, outcome: 'ok' })
    const sent = openai.requests.slice(before)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.headers['authorization']).toBe('Bearer sk-tenant-own')
    expect(sent[0]!.body).toMatchObject({ model: 'saved-model' })
  })
})
