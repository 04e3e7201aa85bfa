// The web chat forms of the Channels page (web/src/lib/server/channel-form.ts): what a
// submitted form stores, which field shows which refusal, and what a save keeps of the
// stored settings. A save never opens a widget to every website by accident.
import { describe, expect, it } from 'vitest'
import {
  parseWebChatForm,
  webChatFormValues,
  webChatSettingsToStore,
} from '../../../web/src/lib/server/channel-form.ts'
import { readConnectionSettings, widgetAdmits } from '../../../shared/channels/settings.ts'

function form(fields: Record<string, string>): FormData {
  const data = new FormData()
  for (const [key, value] of Object.entries(fields)) data.set(key, value)
  return data
}

describe('the web chat forms', () => {
  it('turns the fields into the stored format, origins normalised', () => {
    const result = parseWebChatForm(
      form({
        greeting: '  Hi! Ask us anything.  ',
        origins_rule: 'only',
        allowed_origins: 'https://Shop.example/, https://www.shop.example\nhttps://shop.example',
      }),
    )
    expect(result).toMatchObject({
      ok: true,
      settings: {
        greeting: 'Hi! Ask us anything.',
        allowed_origins: ['https://shop.example', 'https://www.shop.example'],
      },
    })
  })

  it('the new-widget form has no rule: a list means only those websites, none means any', () => {
    expect(parseWebChatForm(form({ allowed_origins: 'https://shop.example' }))).toMatchObject({
      ok: true,
      settings: { greeting: '', allowed_origins: ['https://shop.example'] },
    })
    expect(parseWebChatForm(form({}))).toMatchObject({ ok: true, settings: { greeting: '', allowed_origins: [] } })
  })

  it('refuses what is not a website next to its field, and keeps what was typed', () => {
    const result = parseWebChatForm(form({ origins_rule: 'only', allowed_origins: 'https://shop.example/checkout' }))
    expect(result).toEqual({
      ok: false,
      values: { greeting: '', allowed_origins: 'https://shop.example/checkout', origins_rule: 'only' },
      errors: { allowed_origins: '“https://shop.example/checkout” is not an origin like https://www.example.com.' },
    })
    expect(parseWebChatForm(form({ greeting: 'x'.repeat(501) }))).toMatchObject({
      ok: false,
      errors: { greeting: 'Keep the greeting under 500 characters.' },
    })
  })

  it('"only these websites" with none named is refused, never read as any website', () => {
    expect(parseWebChatForm(form({ origins_rule: 'only', allowed_origins: ' , ' }))).toMatchObject({
      ok: false,
      errors: { allowed_origins: 'Name at least one website, or choose any website.' },
    })
    // "Any website" means it, whatever the field still holds.
    expect(parseWebChatForm(form({ origins_rule: 'any', allowed_origins: 'https://shop.example' }))).toMatchObject({
      ok: true,
      settings: { allowed_origins: [] },
    })
  })

  it('a save keeps the settings the form does not show, repairs what does not fit, and leaves out what is empty', () => {
    const stored = {
      greeting: 'Old greeting',
      allowed_origins: ['https://old.example'],
      handoff_notify_user_ids: ['U0123ABCD'],
      whatsapp_template: { name: 'Not A Name', language_code: 'en' },
      theme: 'dark',
    }
    expect(webChatSettingsToStore(stored, { greeting: 'Hello', allowed_origins: ['https://shop.example'] })).toEqual({
      greeting: 'Hello',
      allowed_origins: ['https://shop.example'],
      handoff_notify_user_ids: ['U0123ABCD'],
    })
    const opened = webChatSettingsToStore(stored, { greeting: '', allowed_origins: [] })
    expect(opened).toEqual({ handoff_notify_user_ids: ['U0123ABCD'] })
    expect(widgetAdmits(readConnectionSettings(opened).settings, 'https://anywhere.example')).toBe(true)
  })

  it('shows an unreadable stored list as "only these websites" with none, so saving the greeting alone is refused', () => {
    const { settings } = readConnectionSettings({ allowed_origins: 'https://shop.example', greeting: 'Hi' })
    const values = webChatFormValues(settings)
    expect(values).toEqual({ greeting: 'Hi', allowed_origins: '', origins_rule: 'only' })
    // The page sends the fields back as shown, with a new greeting: refused, the widget stays closed.
    expect(parseWebChatForm(form({ ...values, greeting: 'Hello' }))).toMatchObject({
      ok: false,
      errors: { allowed_origins: 'Name at least one website, or choose any website.' },
    })
    expect(webChatFormValues(readConnectionSettings({ allowed_origins: [] }).settings).origins_rule).toBe('any')
    expect(
      webChatFormValues(
        readConnectionSettings({ allowed_origins: ['https://a.example', 'https://b.example'] }).settings,
      ),
    ).toEqual({ greeting: '', allowed_origins: 'https://a.example, https://b.example', origins_rule: 'only' })
  })
})
