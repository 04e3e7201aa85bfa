// The agent designer's form (web/src/lib/server/agent-form.ts): what a submitted form
// stores, which field shows which refusal, and what an edit keeps of the stored agent.
import { describe, expect, it } from 'vitest'
import { parseAgentForm } from '../../../web/src/lib/server/agent-form.ts'

function form(fields: Record<string, string>): FormData {
  const data = new FormData()
  for (const [key, value] of Object.entries(fields)) data.set(key, value)
  return data
}

const designer = {
  name: 'Ada',
  role: 'Support',
  persona: 'Friendly.',
  tone: 'warm',
  instructions: 'Be brief.',
  tool_knowledge_search: 'on',
  tool_escalate_to_human: 'on',
  escalation_keywords: 'human, person ,, ',
  escalation_reason: '',
  model: 'gpt-4o-mini',
  base_url: '',
  temperature: '0.3',
  monthly_token_budget: '1_000_000',
}

describe('the agent designer form', () => {
  it('turns the fields into the stored format', () => {
    const result = parseAgentForm(form(designer))
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.payload).toEqual({
      name: 'Ada',
      role: 'Support',
      persona: 'Friendly.',
      tone: 'warm',
      instructions: 'Be brief.',
      model_settings: { model: 'gpt-4o-mini', temperature: 0.3 },
      tools: { knowledge_search: {}, escalate_to_human: {} },
      escalation_rules: [{ kind: 'keywords', keywords: ['human', 'person'], reason: 'the customer asked for a human' }],
      monthly_token_budget: 1_000_000,
    })
    // The JSON sent to the api carries no key the format does not know.
    expect(JSON.parse(JSON.stringify(result.payload.model_settings))).toEqual({
      model: 'gpt-4o-mini',
      temperature: 0.3,
    })
  })

  it('stores the http_request tool with its hosts, one per line or comma, in lower case', () => {
    const result = parseAgentForm(
      form({
        ...designer,
        tool_http_request: 'on',
        allowed_hosts: 'API.example.com\n*.example.org, status.example.net',
      }),
    )
    expect(result.ok && result.payload.tools.http_request).toEqual({
      allowed_hosts: ['api.example.com', '*.example.org', 'status.example.net'],
      allowed_methods: ['GET'],
    })
  })

  it('stores no rule and no model settings when those fields are empty, and an empty budget as unlimited', () => {
    const result = parseAgentForm(
      form({ name: 'Ada', escalation_keywords: ' , ', model: '', temperature: '', monthly_token_budget: '' }),
    )
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.payload.escalation_rules).toEqual([])
    expect(result.payload.model_settings).toEqual({})
    expect(result.payload.tools).toEqual({})
    expect(result.payload.monthly_token_budget).toBeNull()
  })

  it.each([
    ['name', { name: ' ' }, 'Give the agent a name.'],
    ['name', { name: 'x'.repeat(81) }, 'Use at most 80 characters.'],
    ['temperature', { temperature: 'warm' }, 'Temperature is a number from 0 to 2.'],
    ['temperature', { temperature: '2.1' }, 'Temperature is a number from 0 to 2.'],
    [
      'base_url',
      { base_url: 'llm.example.com' },
      'Enter an http(s) URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1.',
    ],
    ['model', { model: 'gpt 4o' }, 'A model name is one word, e.g. gpt-4o-mini.'],
    [
      'monthly_token_budget',
      { monthly_token_budget: '-5' },
      'The budget is a whole number of tokens (empty = unlimited).',
    ],
    [
      'monthly_token_budget',
      { monthly_token_budget: 'lots' },
      'The budget is a whole number of tokens (empty = unlimited).',
    ],
    [
      'allowed_hosts',
      { tool_http_request: 'on', allowed_hosts: 'api.example.com\nhttps://evil.example.com/' },
      '“https://evil.example.com/” is not a host name (e.g. api.example.com).',
    ],
    [
      'escalation_keywords',
      { escalation_keywords: `${'x'.repeat(101)}` },
      'Keep each word or phrase under 100 characters.',
    ],
    ['escalation_reason', { escalation_reason: 'r'.repeat(201) }, 'Keep the reason under 200 characters.'],
    ['tone', { tone: 't'.repeat(201) }, 'Keep the tone under 200 characters.'],
  ])('shows a refused %s next to its field and keeps what was typed', (field, change, message) => {
    const submitted = { ...designer, ...change }
    const result = parseAgentForm(form(submitted))
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.errors[field]).toBe(message)
    expect(Object.keys(result.errors)).toEqual([field])
    for (const [key, value] of Object.entries(change)) expect(result.values[key]).toBe(value.trim())
  })

  it('ignores hosts while the http_request tool is off', () => {
    const result = parseAgentForm(form({ ...designer, allowed_hosts: 'not a host' }))
    expect(result.ok && result.payload.tools).toEqual({ knowledge_search: {}, escalate_to_human: {} })
  })

  it('ignores fields the designer does not have', () => {
    const submitted = form({ ...designer, tool_send_email: 'on', model_settings: '{"base_url":"http://10.0.0.1"}' })
    const result = parseAgentForm(submitted)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.payload.tools).toEqual({ knowledge_search: {}, escalate_to_human: {} })
    expect(result.payload.model_settings).toEqual({ model: 'gpt-4o-mini', temperature: 0.3 })
  })
})

describe('editing a stored agent', () => {
  const stored = {
    model_settings: {
      model: 'old-model',
      base_url: 'https://old.example.com/v1',
      temperature: 1,
      fallback_model: 'gpt-4o-mini',
      context_tokens: 64_000,
      prices: { 'my-model': { input_per_million: 1, output_per_million: 2 } },
    },
    tools: { http_request: { allowed_hosts: ['old.example.com'], allowed_methods: ['GET', 'POST'] } },
  }

  it('keeps the settings the designer does not show; the fields it shows replace theirs, empty ones unset them', () => {
    const result = parseAgentForm(
      form({ ...designer, temperature: '', tool_http_request: 'on', allowed_hosts: 'new.example.com' }),
      stored,
    )
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.payload.model_settings).toEqual({
      model: 'gpt-4o-mini',
      fallback_model: 'gpt-4o-mini',
      context_tokens: 64_000,
      prices: { 'my-model': { input_per_million: 1, output_per_million: 2 } },
    })
    expect(result.payload.tools.http_request).toEqual({
      allowed_hosts: ['new.example.com'],
      allowed_methods: ['GET', 'POST'],
    })
  })

  it('drops stored settings that do not fit, so saving repairs them', () => {
    const result = parseAgentForm(form(designer), {
      model_settings: { fallback_model: 'two words', top_p: 0.9, context_tokens: 8000 },
      tools: { send_email: {}, http_request: 'on' },
    })
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.payload.model_settings).toEqual({ model: 'gpt-4o-mini', temperature: 0.3, context_tokens: 8000 })
    expect(result.payload.tools).toEqual({ knowledge_search: {}, escalate_to_human: {} })
  })

  it('switching http_request off removes it with its settings', () => {
    const result = parseAgentForm(form(designer), stored)
    expect(result.ok && result.payload.tools).toEqual({ knowledge_search: {}, escalate_to_human: {} })
  })

  it('web search follows its switch when the form shows it, and is kept as stored when it does not', () => {
    const withSearch = { tools: { knowledge_search: {}, web_search: {} } }
    const tools = (fields: Record<string, string>, agent?: object) => {
      const result = parseAgentForm(form({ ...designer, ...fields }), agent)
      return result.ok ? result.payload.tools : null
    }
    // Shown (the platform has a provider): on and off as ticked.
    expect(tools({ tool_web_search_shown: 'on', tool_web_search: 'on' })).toHaveProperty('web_search', {})
    expect(tools({ tool_web_search_shown: 'on' }, withSearch)).not.toHaveProperty('web_search')
    // Not shown (no provider configured now): a save neither adds nor drops it.
    expect(tools({ tool_web_search: 'on' })).not.toHaveProperty('web_search')
    expect(tools({}, withSearch)).toHaveProperty('web_search', {})
    // Whatever a form sends, a provider URL never reaches the stored settings.
    expect(tools({ tool_web_search_shown: 'on', tool_web_search: 'on', web_search_url: 'http://10.0.0.1' })).toEqual({
      knowledge_search: {},
      escalate_to_human: {},
      web_search: {},
    })
  })
})
