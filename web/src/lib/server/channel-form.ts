// The web chat forms of the Channels page (new widget, widget settings): the fields become
// the connection settings format ($shared/channels/settings.ts), which decides what is valid;
// its messages are shown next to the field they concern.
import {
  connectionSettingsSchema,
  readConnectionSettings,
  webChatSettingsSchema,
  type ConnectionSettings,
  type WebChatSettings,
} from '$shared/channels/settings.ts'

/** Which pages the widget answers: any, or only the listed origins. */
export type OriginsRule = 'any' | 'only'

export type WebChatFormResult =
  | { ok: true; values: Record<string, string>; settings: WebChatSettings }
  | { ok: false; values: Record<string, string>; errors: Record<string, string> }

const field = (form: FormData, name: string) => String(form.get(name) ?? '').trim()

/**
 * Parses the greeting and the allowed websites of a web chat form. `origins_rule` says
 * whether the widget answers any page or only the listed ones (the new-widget form has no
 * such field: a list means "only"); "only" with no website is refused rather than read as
 * "any", so a save never opens a widget by accident.
 */
export function parseWebChatForm(form: FormData): WebChatFormResult {
  const values = {
    greeting: field(form, 'greeting'),
    allowed_origins: field(form, 'allowed_origins'),
    origins_rule: field(form, 'origins_rule'),
  }
  const origins = values.allowed_origins.split(/[\s,]+/).filter(Boolean)
  const rule: OriginsRule =
    values.origins_rule === 'any' || values.origins_rule === 'only'
      ? values.origins_rule
      : origins.length
        ? 'only'
        : 'any'
  if (rule === 'only' && origins.length === 0)
    return { ok: false, values, errors: { allowed_origins: 'Name at least one website, or choose any website.' } }
  const parsed = webChatSettingsSchema.safeParse({
    greeting: values.greeting,
    allowed_origins: rule === 'any' ? [] : origins,
  })
  if (parsed.success) return { ok: true, values, settings: parsed.data }
  const errors: Record<string, string> = {}
  for (const issue of parsed.error.issues) errors[String(issue.path[0] ?? 'form')] ??= issue.message
  return { ok: false, values, errors }
}

/**
 * The settings to store for a web chat: the stored ones (what fits the format; what does
 * not is left out, so a save repairs it) with the form's greeting and origins in place.
 * An empty greeting or origin list is left out (no greeting; any page).
 */
export function webChatSettingsToStore(stored: unknown, form: WebChatSettings): ConnectionSettings {
  const { greeting: _greeting, allowed_origins: _origins, ...kept } = readConnectionSettings(stored).settings
  return connectionSettingsSchema.parse({
    ...kept,
    ...(form.greeting ? { greeting: form.greeting } : {}),
    ...(form.allowed_origins.length ? { allowed_origins: form.allowed_origins } : {}),
  })
}

/** The form's fields for a stored web chat, and which pages it answers now. */
export function webChatFormValues(settings: ConnectionSettings): Record<string, string> {
  return {
    greeting: settings.greeting ?? '',
    allowed_origins: (settings.allowed_origins ?? []).join(', '),
    origins_rule: settings.allowed_origins === undefined ? 'any' : 'only',
  }
}
