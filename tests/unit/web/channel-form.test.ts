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
      values: {
        greeting: '',
        title: '',
        accent_color: '',
        allowed_origins: 'https://shop.example/checkout',
        origins_rule: 'only',
        prechat_form: '',
      },
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
    const look = { title: '', accent_color: '' } as const
    expect(
      webChatSettingsToStore(stored, {
        greeting: 'Hello',
        ...look,
        allowed_origins: ['https://shop.example'],
        prechat_form: false,
      }),
    ).toEqual({
      greeting: 'Hello',
      allowed_origins: ['https://shop.example'],
      handoff_notify_user_ids: ['U0123ABCD'],
    })
    const opened = webChatSettingsToStore(stored, { greeting: '', ...look, allowed_origins: [], prechat_form: false })
    expect(opened).toEqual({ handoff_notify_user_ids: ['U0123ABCD'] })
    expect(widgetAdmits(readConnectionSettings(opened).settings, 'https://anywhere.example')).toBe(true)
  })

  it('the pre-chat form is switched on by its checkbox, stored only when on, and shown back', () => {
    const on = parseWebChatForm(form({ prechat_form: 'on' }))
    expect(on).toMatchObject({ ok: true, settings: { prechat_form: true } })
    expect(parseWebChatForm(form({}))).toMatchObject({ ok: true, settings: { prechat_form: false } })
    if (!on.ok) throw new Error('expected ok')
    const stored = webChatSettingsToStore({ greeting: 'Hi', prechat_form: true }, { ...on.settings, greeting: 'Hi' })
    expect(stored).toEqual({ greeting: 'Hi', prechat_form: true })
    expect(webChatFormValues(readConnectionSettings(stored).settings).prechat_form).toBe('on')
    const off = webChatSettingsToStore(stored, {
      greeting: 'Hi',
      title: '',
      accent_color: '',
      allowed_origins: [],
      prechat_form: false,
    })
    expect(off).toEqual({ greeting: 'Hi' })
  })

  it('shows an unreadable stored list as "only these websites" with none, so saving the greeting alone is refused', () => {
    const { settings } = readConnectionSettings({ allowed_origins: 'https://shop.example', greeting: 'Hi' })
    const values = webChatFormValues(settings)
    expect(values).toEqual({
      greeting: 'Hi',
      title: '',
      accent_color: '',
      allowed_origins: '',
      origins_rule: 'only',
      prechat_form: '',
    })
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
    ).toEqual({
      greeting: '',
      title: '',
      accent_color: '',
      allowed_origins: 'https://a.example, https://b.example',
      origins_rule: 'only',
      prechat_form: '',
    })
  })

  it("stores the widget's title and colour, refuses a colour that is not #rrggbb next to its field", () => {
    const parsed = parseWebChatForm(form({ title: ' Acme help ', accent_color: '#1F2937' }))
    expect(parsed).toMatchObject({ ok: true, settings: { title: 'Acme help', accent_color: '#1f2937' } })
    if (!parsed.ok) throw new Error('refused')
    expect(webChatSettingsToStore({ greeting: 'Hi' }, parsed.settings)).toEqual({
      title: 'Acme help',
      accent_color: '#1f2937',
    })
    expect(
      webChatFormValues(readConnectionSettings({ title: 'Acme help', accent_color: '#1f2937' }).settings),
    ).toMatchObject({ title: 'Acme help', accent_color: '#1f2937' })
    expect(parseWebChatForm(form({ accent_color: 'red' }))).toMatchObject({
      ok: false,
      errors: { accent_color: 'A colour looks like #1f2937.' },
    })
    expect(parseWebChatForm(form({ title: 'x'.repeat(61) }))).toMatchObject({
      ok: false,
      errors: { title: 'Keep the title under 60 characters.' },
    })
  })
})
