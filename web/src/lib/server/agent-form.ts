// The agent designer's form, shared by create and edit: the form's text fields become the
// stored agent settings format ($shared/agent/settings.ts), which decides what is valid;
// its messages are shown next to the field they concern.
import { z } from 'zod'
import { agentSettingsSchema, readAgentSettings, type AgentSettings } from '$shared/agent/settings.ts'

/** What api.create_agent takes, and api.update_agent as its changes. */
export type AgentPayload = AgentSettings

/** The form's fields, as the page shows them again after a refused submit. */
const text = z
  .string()
  .nullish()
  .transform((v) => (v ?? '').trim())
const checkbox = z
  .string()
  .nullish()
  .transform((v) => (v ? 'on' : ''))
const agentFormSchema = z.object({
  name: text,
  role: text,
  persona: text,
  tone: text,
  instructions: text,
  tool_knowledge_search: checkbox,
  tool_escalate_to_human: checkbox,
  tool_http_request: checkbox,
  tool_web_search: checkbox,
  /** Sent when the web search switch was on the form (the platform has a provider). */
  tool_web_search_shown: checkbox,
  allowed_hosts: text,
  escalation_keywords: text,
  escalation_reason: text,
  model: text,
  base_url: text,
  temperature: text,
  monthly_token_budget: text,
})
type AgentFormValues = z.output<typeof agentFormSchema>

const list = (value: string, separator: RegExp) =>
  value
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean)

/** The fields of the model step; the stored settings' other keys are kept as they are. */
const FORM_MODEL_KEYS = ['model', 'base_url', 'temperature'] as const

type Candidate = z.input<typeof agentSettingsSchema>

export type AgentFormResult =
  | { ok: true; values: Record<string, string>; payload: AgentPayload }
  | { ok: false; values: Record<string, string>; errors: Record<string, string> }

/**
 * Parses a submitted designer form. `stored` is the agent being edited: settings the form
 * does not show (fallback model, prices, http_request's allowed methods …) are kept, so a
 * save never drops them; those that do not fit the format are left out, so a save repairs them.
 */
export function parseAgentForm(
  form: FormData,
  stored?: { model_settings?: unknown; tools?: unknown } | null,
): AgentFormResult {
  const values: AgentFormValues = agentFormSchema.parse(
    Object.fromEntries(Object.keys(agentFormSchema.shape).map((key) => [key, form.get(key)])),
  )
  const kept = stored ? readAgentSettings(stored) : null

  const model_settings: NonNullable<Candidate['model_settings']> = { ...kept?.model.settings }
  for (const key of FORM_MODEL_KEYS) delete model_settings[key]
  if (values.model) model_settings.model = values.model
  if (values.base_url) model_settings.base_url = values.base_url
  if (values.temperature) model_settings.temperature = Number(values.temperature)

  const tools: NonNullable<Candidate['tools']> = {}
  if (values.tool_knowledge_search) tools.knowledge_search = {}
  if (values.tool_escalate_to_human) tools.escalate_to_human = {}
  if (values.tool_http_request)
    tools.http_request = { ...kept?.tools.http_request, allowed_hosts: list(values.allowed_hosts, /[\s,]+/) }
  // Without a provider the switch is not shown: what is stored stays until one is configured again.
  if (values.tool_web_search_shown ? values.tool_web_search : kept?.tools.web_search) tools.web_search = {}

  const keywords = list(values.escalation_keywords, /,/)
  const budget = values.monthly_token_budget.replace(/[_\s,]/g, '')
  const candidate: Candidate = {
    name: values.name,
    role: values.role,
    persona: values.persona,
    tone: values.tone,
    instructions: values.instructions,
    model_settings,
    tools,
    escalation_rules: keywords.length
      ? [{ kind: 'keywords', keywords, ...(values.escalation_reason ? { reason: values.escalation_reason } : {}) }]
      : [],
    monthly_token_budget: budget === '' ? null : Number(budget),
  }
  const parsed = agentSettingsSchema.safeParse(candidate)
  if (parsed.success) return { ok: true, values, payload: parsed.data }
  const errors: Record<string, string> = {}
  for (const issue of parsed.error.issues) errors[fieldOf(issue.path)] ??= issue.message
  return { ok: false, values, errors }
}

/** The designer field that shows an issue at a path of the stored format. */
function fieldOf(path: readonly PropertyKey[]): string {
  const [top, key, field] = path
  if (top === 'model_settings')
    return FORM_MODEL_KEYS.includes(key as (typeof FORM_MODEL_KEYS)[number]) ? String(key) : 'form'
  if (top === 'tools') return 'allowed_hosts'
  if (top === 'escalation_rules') return field === 'reason' ? 'escalation_reason' : 'escalation_keywords'
  return String(top ?? 'form')
}
