// The connection settings format (shared/channels/settings.ts): what the portal may write, and
// what the web-chat function and the worker make of whatever is stored, including values
// that do not fit. The rule that matters most: a stored allowed_origins that does not fit
// never lets more pages use a widget.
import { describe, expect, it } from 'vitest'
import {
  connectionSettingsSchema,
  normalizeOrigin,
  readConnectionSettings,
  webChatSettingsSchema,
  whatsAppTemplateSchema,
  widgetAdmits,
} from '../../../shared/channels/settings.ts'
import { whatsAppTemplateOf } from '../../../shared/channels/delivery/whatsapp.ts'

const messages = (result: { success: boolean; error?: { issues: Array<{ message: string }> } }) =>
  result.success ? [] : result.error!.issues.map((i) => i.message)

describe('the connection settings format', () => {
  it('accepts what the product stores, origins normalised', () => {
    const stored = {
      greeting: '  Hi! How can we help?  ',
      allowed_origins: ['https://Shop.example/', 'https://shop.example:443', 'http://localhost:5173'],
      whatsapp_template: { name: 'reply_waiting', language_code: 'en_US', components: [{ type: 'body' }] },
      handoff_notify_user_ids: ['U0123ABCD'],
      disabled_reason: 'app_uninstalled',
    }
    expect(connectionSettingsSchema.parse(stored)).toEqual({
      greeting: 'Hi! How can we help?',
      allowed_origins: ['https://shop.example', 'http://localhost:5173'],
      whatsapp_template: { name: 'reply_waiting', language_code: 'en_US', components: [{ type: 'body' }] },
      handoff_notify_user_ids: ['U0123ABCD'],
      disabled_reason: 'app_uninstalled',
    })
    expect(readConnectionSettings(stored).problems).toEqual([])
  })

  it('refuses what is not an origin, with a message that names it', () => {
    for (const bad of [
      'shop.example',
      'https://shop.example/page',
      'https://shop.example?x=1',
      'javascript:alert(1)',
      'ftp://shop.example',
      'https://user:pw@shop.example',
      '*',
      '',
    ]) {
      expect(normalizeOrigin(bad), bad).toBeNull()
      const result = webChatSettingsSchema.safeParse({ allowed_origins: [bad] })
      expect(messages(result), bad).toEqual([`“${bad}” is not an origin like https://www.example.com.`])
    }
    expect(messages(webChatSettingsSchema.safeParse({ allowed_origins: 'https://shop.example' }))).toEqual([
      'Allowed origins are a list.',
    ])
    expect(messages(connectionSettingsSchema.safeParse({ colour: 'red' }))).toEqual([
      'Unknown channel setting “colour”: the channel settings are greeting, allowed_origins, whatsapp_template, handoff_notify_user_ids, disabled_reason.',
    ])
    expect(messages(whatsAppTemplateSchema.safeParse({ name: 'Reply Waiting', language_code: 'english' }))).toEqual([
      'A template name is lower case letters, digits and _.',
      'A language code looks like en or en_US.',
    ])
    expect(messages(webChatSettingsSchema.safeParse({ greeting: 'x'.repeat(501) }))).toEqual([
      'Keep the greeting under 500 characters.',
    ])
  })

  it('reads nothing stored as no settings: the widget answers any page', () => {
    // An empty list is how api.create_web_chat_channel and the seed say "no restriction".
    for (const stored of [null, undefined, {}, { allowed_origins: null }, { allowed_origins: [] }]) {
      const read = readConnectionSettings(stored)
      expect(read).toEqual({ settings: {}, problems: [] })
      expect(widgetAdmits(read.settings, 'https://anywhere.example')).toBe(true)
      expect(widgetAdmits(read.settings, null)).toBe(true)
    }
  })

  it('an empty list next to a part that does not fit still means any page', () => {
    const read = readConnectionSettings({ allowed_origins: [], greeting: 7 })
    expect(read.settings).toEqual({})
    expect(widgetAdmits(read.settings, 'https://anywhere.example')).toBe(true)
  })

  it('a stored list admits only its origins, and a request without Origin is refused', () => {
    const { settings } = readConnectionSettings({ allowed_origins: ['https://Shop.example/'] })
    expect(widgetAdmits(settings, 'https://shop.example')).toBe(true)
    expect(widgetAdmits(settings, 'https://SHOP.example:443')).toBe(true)
    for (const origin of [
      'http://shop.example',
      'https://shop.example.evil.example',
      'https://evil.example',
      'null',
      null,
    ])
      expect(widgetAdmits(settings, origin), String(origin)).toBe(false)
  })

  it('a malformed allowed_origins never widens who may use the widget', () => {
    const cases: Array<{ stored: unknown; admitted: string[]; problem: RegExp }> = [
      // Not a list: no page until someone fixes it.
      {
        stored: 'https://shop.example',
        admitted: [],
        problem: /Allowed origins are a list; the widget answers on no page/,
      },
      { stored: { 'https://shop.example': true }, admitted: [], problem: /Allowed origins are a list/ },
      { stored: 42, admitted: [], problem: /Allowed origins are a list/ },
      // A list with nothing readable in it: no page, never "any page".
      { stored: ['*'], admitted: [], problem: /no origin fits; the widget answers on no page/ },
      { stored: [null, 7, ''], admitted: [], problem: /no origin fits/ },
      // A list with some readable entries: those only.
      {
        stored: ['https://shop.example', 'shop.example', { origin: 'x' }],
        admitted: ['https://shop.example'],
        problem: /allowed_origins\[1\]: “shop\.example” is not an origin.*\(left out\)/,
      },
    ]
    for (const { stored, admitted, problem } of cases) {
      const read = readConnectionSettings({ allowed_origins: stored, greeting: 'Hello' })
      expect(read.settings.allowed_origins, JSON.stringify(stored)).toEqual(admitted)
      expect(read.settings.greeting).toBe('Hello')
      expect(read.problems.join('\n')).toMatch(problem)
      for (const origin of ['https://evil.example', 'https://shop.example.evil.example', null])
        expect(widgetAdmits(read.settings, origin)).toBe(false)
      expect(widgetAdmits(read.settings, 'https://shop.example')).toBe(admitted.length > 0)
    }
    // Settings that are not even an object: no page either.
    for (const stored of ['{"allowed_origins": []}', [], 3]) {
      const read = readConnectionSettings(stored)
      expect(read.settings).toEqual({ allowed_origins: [] })
      expect(read.problems[0]).toMatch(/^settings: expected an object/)
      expect(widgetAdmits(read.settings, 'https://anywhere.example')).toBe(false)
    }
  })

  it('one bad part costs only itself: the rest is kept, each problem named', () => {
    const read = readConnectionSettings({
      greeting: 42,
      whatsapp_template: { name: 'reply_waiting' },
      handoff_notify_user_ids: ['U0123ABCD', 'not-an-id'],
      allowed_origins: ['https://shop.example'],
      theme: 'dark',
    })
    expect(read.settings).toEqual({ allowed_origins: ['https://shop.example'], handoff_notify_user_ids: ['U0123ABCD'] })
    expect(read.problems).toEqual([
      'settings.greeting: The greeting is a short text. (left out)',
      'settings.whatsapp_template.language_code: A language code looks like en or en_US. (left out)',
      'settings.handoff_notify_user_ids[1]: Slack user ids look like U0123ABCD. (left out)',
      'settings.theme: unknown, ignored.',
    ])
  })

  it('the WhatsApp template as the Cloud API client takes it, and none when it does not fit', () => {
    const template = { name: 'reply_waiting', language_code: 'en', components: [{ type: 'body', parameters: [] }] }
    expect(whatsAppTemplateOf(readConnectionSettings({ whatsapp_template: template }).settings)).toEqual({
      name: 'reply_waiting',
      languageCode: 'en',
      components: [{ type: 'body', parameters: [] }],
    })
    expect(
      whatsAppTemplateOf(readConnectionSettings({ whatsapp_template: { name: 'x', language_code: 'en' } }).settings),
    ).toEqual({ name: 'x', languageCode: 'en' })
    for (const bad of [
      'reply_waiting',
      { name: '', language_code: 'en' },
      { name: 'x', language_code: 'en', components: 'body' },
    ])
      expect(whatsAppTemplateOf(readConnectionSettings({ whatsapp_template: bad }).settings)).toBeNull()
    expect(whatsAppTemplateOf({})).toBeNull()
  })

  it('what the portal writes for a web chat: defaults, duplicates folded', () => {
    expect(webChatSettingsSchema.parse({})).toEqual({ greeting: '', allowed_origins: [] })
    expect(
      webChatSettingsSchema.parse({ allowed_origins: ['https://shop.example', 'https://Shop.example/'] })
        .allowed_origins,
    ).toEqual(['https://shop.example'])
    expect(messages(webChatSettingsSchema.safeParse({ allowed_origins: [], colour: 'red' }))).toHaveLength(1)
  })
})
