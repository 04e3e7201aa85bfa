// The agent settings format (shared/agent/settings.ts): what the portal may write, and what
// the worker makes of whatever is stored, including values that do not fit.
import { describe, expect, it } from 'vitest'
import {
  agentSettingsSchema,
  agentToolsSchema,
  describeIssues,
  escalationRuleSchema,
  modelSettingsSchema,
  readAgentSettings,
  readModelSettings,
} from '../../../shared/agent/settings.ts'

const messages = (result: { success: boolean; error?: { issues: Array<{ message: string }> } }) =>
  result.success ? [] : result.error!.issues.map((i) => i.message)

describe('the agent settings format', () => {
  it('accepts what the templates store, unchanged', () => {
    const template = {
      name: 'Office manager',
      model_settings: { model: 'gpt-4o-mini', temperature: 0.2 },
      tools: { knowledge_search: {}, escalate_to_human: {}, http_request: { allowed_hosts: [] } },
      escalation_rules: [{ kind: 'keywords', keywords: ['human', 'person'], reason: 'the customer asked for a human' }],
    }
    const parsed = agentSettingsSchema.parse(template)
    expect(parsed.model_settings).toEqual({ model: 'gpt-4o-mini', temperature: 0.2 })
    expect(parsed.tools).toEqual({
      knowledge_search: {},
      escalate_to_human: {},
      http_request: { allowed_hosts: [], allowed_methods: ['GET'] },
    })
    expect(parsed.escalation_rules).toEqual(template.escalation_rules)
  })

  it('fills in defaults: empty texts, no tools, no rules, unlimited budget, GET only, the default reason', () => {
    expect(agentSettingsSchema.parse({ name: 'Ada' })).toEqual({
      name: 'Ada',
      role: '',
      persona: '',
      tone: '',
      instructions: '',
      model_settings: {},
      tools: {},
      escalation_rules: [],
      monthly_token_budget: null,
    })
    expect(agentToolsSchema.parse({ http_request: {} })).toEqual({
      http_request: { allowed_hosts: [], allowed_methods: ['GET'] },
    })
    expect(escalationRuleSchema.parse({ kind: 'keywords', keywords: ['refund'] }).reason).toBe(
      'the customer asked for a human',
    )
  })

  it('normalises hosts and endpoints: trimmed, lower case, no trailing slash', () => {
    const parsed = agentSettingsSchema.parse({
      name: '  Ada  ',
      model_settings: { base_url: ' https://llm.example.com/v1// ' },
      tools: { http_request: { allowed_hosts: [' API.Example.com ', '*.Example.org'] } },
    })
    expect(parsed.name).toBe('Ada')
    expect(parsed.model_settings.base_url).toBe('https://llm.example.com/v1')
    expect(parsed.tools.http_request?.allowed_hosts).toEqual(['api.example.com', '*.example.org'])
  })

  it.each([
    ['a name of spaces', { name: '   ' }, 'Give the agent a name.'],
    ['a name too long', { name: 'x'.repeat(81) }, 'Use at most 80 characters.'],
    ['a number for a name', { name: 42 }, 'Give the agent a name.'],
    [
      'a temperature above 2',
      { name: 'A', model_settings: { temperature: 2.5 } },
      'Temperature is a number from 0 to 2.',
    ],
    [
      'a negative temperature',
      { name: 'A', model_settings: { temperature: -1 } },
      'Temperature is a number from 0 to 2.',
    ],
    [
      'a temperature as text',
      { name: 'A', model_settings: { temperature: 'hot' } },
      'Temperature is a number from 0 to 2.',
    ],
    ['NaN as temperature', { name: 'A', model_settings: { temperature: NaN } }, 'Temperature is a number from 0 to 2.'],
    [
      'an ftp endpoint',
      { name: 'A', model_settings: { base_url: 'ftp://llm.example.com' } },
      'Enter an http(s) URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1.',
    ],
    [
      'a model name with a space',
      { name: 'A', model_settings: { model: 'gpt 4' } },
      'A model name is one word, e.g. gpt-4o-mini.',
    ],
    [
      'a zero answer limit',
      { name: 'A', model_settings: { max_output_tokens: 0 } },
      'The answer limit is a whole number of tokens from 1 to 1000000.',
    ],
    [
      'a negative price',
      { name: 'A', model_settings: { prices: { 'my-model': { input_per_million: -1, output_per_million: 1 } } } },
      'A price is a number of US dollars per million tokens, 0 or more.',
    ],
    [
      'an unknown model setting',
      { name: 'A', model_settings: { top_p: 0.9 } },
      'Unknown model setting “top_p”: the model settings are base_url, model, fallback_model, temperature, max_output_tokens, context_tokens, prices.',
    ],
    [
      'an unknown tool',
      { name: 'A', tools: { send_email: {} } },
      'Unknown tool “send_email”: the tools are knowledge_search, escalate_to_human, http_request, web_search.',
    ],
    [
      'a tool switched on with true',
      { name: 'A', tools: { knowledge_search: true } },
      'knowledge_search takes no settings: store it as {} to switch it on.',
    ],
    [
      'a tool with settings it does not take',
      { name: 'A', tools: { escalate_to_human: { to: 'boss' } } },
      'escalate_to_human takes no settings: store it as {} to switch it on.',
    ],
    [
      'a web search provider named by the tenant',
      { name: 'A', tools: { web_search: { url: 'http://10.0.0.1:8080' } } },
      'web_search takes no settings: store it as {} to switch it on.',
    ],
    [
      'hosts as one string',
      { name: 'A', tools: { http_request: { allowed_hosts: 'api.example.com' } } },
      'Invalid input: expected array, received string',
    ],
    [
      'a URL where a host belongs',
      { name: 'A', tools: { http_request: { allowed_hosts: ['https://api.example.com/x'] } } },
      '“https://api.example.com/x” is not a host name (e.g. api.example.com).',
    ],
    [
      'a method other than GET or POST',
      { name: 'A', tools: { http_request: { allowed_hosts: ['a.example.com'], allowed_methods: ['DELETE'] } } },
      'A method is GET or POST.',
    ],
    [
      'an unknown http_request setting',
      { name: 'A', tools: { http_request: { allowed_hosts: [], follow_redirects: true } } },
      'Unknown http_request setting “follow_redirects”: the http_request settings are allowed_hosts, allowed_methods.',
    ],
    [
      'a rule of another kind',
      { name: 'A', escalation_rules: [{ kind: 'sentiment', keywords: ['x'] }] },
      'An escalation rule has kind "keywords".',
    ],
    [
      'a rule without keywords',
      { name: 'A', escalation_rules: [{ kind: 'keywords', keywords: [] }] },
      'Name at least one word or phrase.',
    ],
    [
      'rules as an object',
      { name: 'A', escalation_rules: { kind: 'keywords', keywords: ['x'] } },
      'Escalation rules are a list.',
    ],
    [
      'a fractional budget',
      { name: 'A', monthly_token_budget: 1.5 },
      'The budget is a whole number of tokens (empty = unlimited).',
    ],
    [
      'a negative budget',
      { name: 'A', monthly_token_budget: -1 },
      'The budget is a whole number of tokens (empty = unlimited).',
    ],
    ['an unknown agent field', { name: 'A', colour: 'blue' }, 'Unrecognized key: "colour"'],
  ])('refuses %s with a message that says what is wrong', (_what, input, message) => {
    expect(messages(agentSettingsSchema.safeParse(input))).toContain(message)
  })

  it('names where each problem is', () => {
    const result = modelSettingsSchema.safeParse({ temperature: 3, prices: { m: { input_per_million: 'a' } } })
    expect(result.success).toBe(false)
    expect(describeIssues(result.error!, 'model_settings')).toEqual([
      'model_settings.temperature: Temperature is a number from 0 to 2.',
      'model_settings.prices.m.input_per_million: A price is a number of US dollars per million tokens, 0 or more.',
      'model_settings.prices.m.output_per_million: A price is a number of US dollars per million tokens, 0 or more.',
    ])
  })
})

describe('reading stored settings', () => {
  it('reads settings that fit as they are, with no problems', () => {
    const read = readAgentSettings({
      model_settings: { base_url: 'https://llm.example.com/v1', model: 'm', temperature: 0.3 },
      tools: {
        knowledge_search: {},
        http_request: { allowed_hosts: ['api.example.com'], allowed_methods: ['GET', 'POST'] },
      },
      escalation_rules: [{ kind: 'keywords', keywords: ['lawyer'], reason: 'legal threat' }],
    })
    expect(read.problems).toEqual([])
    expect(read.model.endpointUnreadable).toBe(false)
    expect(read.model.settings).toEqual({ base_url: 'https://llm.example.com/v1', model: 'm', temperature: 0.3 })
    expect(read.tools.http_request).toEqual({ allowed_hosts: ['api.example.com'], allowed_methods: ['GET', 'POST'] })
    expect(read.escalationRules).toEqual([{ kind: 'keywords', keywords: ['lawyer'], reason: 'legal threat' }])
  })

  it('reads nothing stored (null) as no settings', () => {
    const read = readAgentSettings({ model_settings: null, tools: null, escalation_rules: null })
    expect(read).toEqual({
      model: { settings: {}, endpointUnreadable: false, problems: [] },
      tools: {},
      escalationRules: [],
      problems: [],
    })
  })

  it('leaves out only what does not fit, and says so; a broken http_request is switched off, never widened', () => {
    const read = readAgentSettings({
      model_settings: { model: 'm', temperature: 7, top_p: 0.9 },
      tools: {
        knowledge_search: {},
        escalate_to_human: true,
        http_request: { allowed_hosts: ['api.example.com', 'http://10.0.0.1'] },
        send_email: {},
      },
      escalation_rules: [
        { kind: 'keywords', keywords: 'refund' },
        42,
        { kind: 'keywords', keywords: ['lawyer'], reason: 'legal threat' },
      ],
    })
    expect(read.model.settings).toEqual({ model: 'm' })
    expect(read.model.endpointUnreadable).toBe(false)
    expect(read.tools).toEqual({ knowledge_search: {} })
    expect(read.escalationRules).toEqual([{ kind: 'keywords', keywords: ['lawyer'], reason: 'legal threat' }])
    expect(read.problems).toEqual([
      'model_settings.temperature: Temperature is a number from 0 to 2. (left out)',
      'model_settings.top_p: unknown, ignored.',
      'tools.escalate_to_human: escalate_to_human takes no settings: store it as {} to switch it on. (left out)',
      'tools.http_request.allowed_hosts[1]: “http://10.0.0.1” is not a host name (e.g. api.example.com). (left out)',
      'tools.send_email: unknown, ignored.',
      'escalation_rules[0].keywords: Invalid input: expected array, received string (rule left out)',
      'escalation_rules[1]: Invalid input: expected object, received number (rule left out)',
    ])
  })

  it('reads values of the wrong kind as empty, with a problem each', () => {
    const read = readAgentSettings({ model_settings: 'gpt-4o', tools: ['knowledge_search'], escalation_rules: {} })
    expect(read.model.settings).toEqual({})
    expect(read.tools).toEqual({})
    expect(read.escalationRules).toEqual([])
    expect(read.problems).toEqual([
      'model_settings: expected an object, found string; none are used.',
      'tools: expected an object, found a list; none are used.',
      'escalation_rules: Escalation rules are a list; none are used.',
    ])
  })

  it('marks an endpoint that does not fit, so no other endpoint is used in its place', () => {
    for (const base_url of ['ftp://llm.example.com', 42, 'not a url', 'https://']) {
      const read = readModelSettings({ base_url, model: 'm' }, 'tenant model_settings')
      expect(read.endpointUnreadable, String(base_url)).toBe(true)
      expect(read.settings).toEqual({ model: 'm' })
      expect(read.problems[0]).toMatch(/^tenant model_settings\.base_url: Enter an http\(s\) URL/)
    }
    // An endpoint set to null or left blank means "the next level's": nothing to mark.
    expect(readModelSettings({ base_url: null }).endpointUnreadable).toBe(false)
    expect(readModelSettings({ base_url: ' ' }).endpointUnreadable).toBe(false)
  })
})
