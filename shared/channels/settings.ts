// The connection settings format: what a channel connection keeps in its settings (jsonb column
// of app.channel_connections). The portal writes it through connectionSettingsSchema (the
// Channels page); the web-chat function and the worker's delivery read it back through
// readConnectionSettings, which never throws: a stored value that does not fit (written by an
// older version, or by hand in SQL) is left out, with a problem to log, and the channel runs
// with what is left.
//
// Leaving a part out never widens who may use a channel. The widget answers any page when
// allowed_origins is missing, null or an empty list (what api.create_web_chat_channel and the
// seed store for "no restriction"), else only the pages of the origins listed. A stored list
// that does not fit keeps only the origins that do, so a list with nothing readable in it, or
// a value that is not a list, admits no page at all (403 origin_not_allowed), never every
// page; the same when the settings are not even an object.
//
//   greeting                 web chat: the first bubble a visitor sees
//   allowed_origins          web chat: the pages (origins) the widget answers on
//   whatsapp_template        WhatsApp: the approved template sent outside the 24-hour window
//   handoff_notify_user_ids  Slack: whom the bot DMs on a hand-off (api.set_handoff_notifications)
//   disabled_reason          Slack: why the installation was disabled (api.disable_slack_installation)

import { z } from 'zod'
import { describeIssues, unknownKeys } from '../runtime/issues.ts'

const ORIGIN = 'An origin is the start of a web address, e.g. https://www.example.com.'

/** "https://Shop.example:443/" → "https://shop.example"; anything that is not an http(s) origin → null. */
export function normalizeOrigin(value: string): string | null {
  try {
    const url = new URL(value.trim())
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
    if (url.username || url.password || url.search || url.hash || url.pathname !== '/') return null
    return url.origin
  } catch {
    return null
  }
}

/** A page origin the widget answers on, normalised ("https://Shop.example/" → "https://shop.example"). */
export const originSchema = z
  .string({ error: ORIGIN })
  .max(300, ORIGIN)
  .transform((value, ctx) => {
    const origin = normalizeOrigin(value)
    if (origin) return origin
    ctx.addIssue({ code: 'custom', message: `“${value.slice(0, 80)}” is not an origin like https://www.example.com.` })
    return z.NEVER
  })

export const MAX_ALLOWED_ORIGINS = 50

export const allowedOriginsSchema = z
  .array(originSchema, { error: 'Allowed origins are a list.' })
  .max(MAX_ALLOWED_ORIGINS, `Name at most ${MAX_ALLOWED_ORIGINS} origins.`)
  .transform((origins) => [...new Set(origins)])

export const greetingSchema = z
  .string({ error: 'The greeting is a short text.' })
  .trim()
  .max(500, 'Keep the greeting under 500 characters.')

/** An approved WhatsApp message template: its name, language and (optional) parameters. */
export const whatsAppTemplateSchema = z.strictObject(
  {
    name: z
      .string({ error: 'A template name is lower case letters, digits and _.' })
      .trim()
      .regex(/^[a-z0-9_]{1,512}$/, 'A template name is lower case letters, digits and _.'),
    language_code: z
      .string({ error: 'A language code looks like en or en_US.' })
      .trim()
      .regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, 'A language code looks like en or en_US.'),
    /** Header/body/button parameters exactly as the Cloud API expects them. */
    components: z
      .array(z.record(z.string(), z.unknown()), { error: 'Template components are a list of objects.' })
      .optional(),
  },
  { error: unknownKeys('template field', 'name, language_code, components') },
)
export type WhatsAppTemplate = z.output<typeof whatsAppTemplateSchema>

const slackUserIdSchema = z
  .string({ error: 'Slack user ids look like U0123ABCD.' })
  .regex(/^[UW][A-Z0-9]{2,20}$/, 'Slack user ids look like U0123ABCD.')

export const slackUserIdsSchema = z
  .array(slackUserIdSchema, {
    error: 'Slack user ids are a list.',
  })
  .max(10, 'At most 10 people can be notified.')

/** Everything a channel connection's settings may hold; every part optional. */
export const connectionSettingsSchema = z.strictObject(
  {
    greeting: greetingSchema.optional(),
    /** Absent: any page (a stored empty list reads as absent). */
    allowed_origins: allowedOriginsSchema.transform((origins) => (origins.length ? origins : undefined)).optional(),
    whatsapp_template: whatsAppTemplateSchema.optional(),
    handoff_notify_user_ids: slackUserIdsSchema.optional(),
    disabled_reason: z.string({ error: 'The reason is a text.' }).max(500).optional(),
  },
  {
    error: unknownKeys(
      'channel setting',
      'greeting, allowed_origins, whatsapp_template, handoff_notify_user_ids, disabled_reason',
    ),
  },
)
export type ConnectionSettings = z.output<typeof connectionSettingsSchema>

/** What the Channels page writes for a web chat: the greeting and the origins (empty = none / any page). */
export const webChatSettingsSchema = z.strictObject({
  greeting: greetingSchema.default(''),
  allowed_origins: allowedOriginsSchema.default([]),
})
export type WebChatSettings = z.output<typeof webChatSettingsSchema>

// Reading stored values ---------------------------------------------------------------------------

export interface ConnectionSettingsRead {
  settings: ConnectionSettings
  /** What was left out and why, one line each (empty when everything fit). */
  problems: string[]
}

/** A connection's stored settings, with what does not fit left out. Never throws. */
export function readConnectionSettings(stored: unknown): ConnectionSettingsRead {
  const problems: string[] = []
  if (stored == null) return { settings: {}, problems }
  if (!isRecord(stored)) {
    problems.push(`settings: expected an object, found ${Array.isArray(stored) ? 'a list' : typeof stored}.`)
    // Nothing readable, so nothing to say which pages may use a widget: none may.
    return { settings: { allowed_origins: [] }, problems }
  }
  const whole = connectionSettingsSchema.safeParse(stored)
  if (whole.success) return { settings: defined(whole.data), problems }
  const shape = connectionSettingsSchema.shape as Record<string, z.ZodType>
  const kept: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(stored)) {
    if (value === null) continue
    if (key === 'allowed_origins') {
      const origins = readOrigins(value, problems)
      if (origins) kept[key] = origins
      continue
    }
    if (key === 'handoff_notify_user_ids' && Array.isArray(value)) {
      // One bad id silences only itself: the others are still notified.
      kept[key] = readEach(slackUserIdSchema, value.slice(0, 10), `settings.${key}`, problems)
      continue
    }
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined
    if (!field) {
      problems.push(`settings.${key}: unknown, ignored.`)
      continue
    }
    const parsed = field.safeParse(value)
    if (parsed.success) kept[key] = parsed.data
    else problems.push(...describeIssues(parsed.error, `settings.${key}`).map((p) => `${p} (left out)`))
  }
  return { settings: kept as ConnectionSettings, problems }
}

/**
 * Whether the widget answers a page of this origin (the Origin header; null when the
 * request has none): any page when the settings name no allowed_origins, else only those.
 */
export function widgetAdmits(settings: ConnectionSettings, origin: string | null): boolean {
  if (settings.allowed_origins === undefined) return true
  const normalized = origin ? normalizeOrigin(origin) : null
  return normalized !== null && settings.allowed_origins.includes(normalized)
}

/**
 * A stored list keeps only the entries that fit: fewer pages, never more (an empty result
 * means no page). An empty stored list means any page: undefined.
 */
function readOrigins(stored: unknown, problems: string[]): string[] | undefined {
  if (!Array.isArray(stored)) {
    problems.push('settings.allowed_origins: Allowed origins are a list; the widget answers on no page until fixed.')
    return []
  }
  if (stored.length === 0) return undefined
  const origins = readEach(originSchema, stored, 'settings.allowed_origins', problems)
  if (stored.length > MAX_ALLOWED_ORIGINS) problems.push(`settings.allowed_origins: more than ${MAX_ALLOWED_ORIGINS}.`)
  const unique = [...new Set(origins)]
  if (unique.length === 0)
    problems.push('settings.allowed_origins: no origin fits; the widget answers on no page until fixed.')
  return unique
}

function defined(settings: ConnectionSettings): ConnectionSettings {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as ConnectionSettings
}

/** The entries of a stored list that fit, each one that does not named in problems. */
function readEach<T>(schema: z.ZodType<T>, stored: unknown[], where: string, problems: string[]): T[] {
  const kept: T[] = []
  stored.forEach((entry, i) => {
    const parsed = schema.safeParse(entry)
    if (parsed.success) kept.push(parsed.data)
    else problems.push(...describeIssues(parsed.error, `${where}[${i}]`).map((p) => `${p} (left out)`))
  })
  return kept
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
