// slack/manifest.json creates the Slack app a self-hoster installs (docs/DEPLOY.md). It
// must ask for everything the code uses and point at functions that exist: every Web API
// method the code calls has its scope, every event the events handler acts on is
// subscribed, the install asks for exactly the manifest's scopes, and each URL is a
// deployed function (supabase/config.toml) under <project-ref>.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { SLACK_BOT_SCOPES } from '../../../shared/channels/slack/oauth.ts'

const root = join(import.meta.dirname, '..', '..', '..')
const manifest = JSON.parse(readFileSync(join(root, 'slack', 'manifest.json'), 'utf8')) as {
  oauth_config: { redirect_urls: string[]; scopes: { bot: string[] } }
  settings: {
    event_subscriptions: { request_url: string; bot_events: string[] }
    interactivity: { is_enabled: boolean; request_url: string }
  }
}
const source = (path: string) => readFileSync(join(root, path), 'utf8')

/** Slack's documented scope for each method and event the code relies on. */
const scopeOfMethod: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.delete': 'chat:write',
  'chat.startStream': 'chat:write',
  'chat.appendStream': 'chat:write',
  'chat.stopStream': 'chat:write',
  'users.info': 'users:read',
  'assistant.threads.setStatus': 'assistant:write',
  'conversations.open': 'im:write',
}
const eventsOfType: Record<string, string[]> = {
  app_mention: ['app_mention'],
  message: ['message.channels', 'message.groups', 'message.im'],
  app_uninstalled: ['app_uninstalled'],
  tokens_revoked: ['tokens_revoked'],
}
const scopeOfEvent: Record<string, string | null> = {
  app_mention: 'app_mentions:read',
  'message.channels': 'channels:history',
  'message.groups': 'groups:history',
  'message.im': 'im:history',
  app_uninstalled: null,
  tokens_revoked: null,
}

describe('slack/manifest.json', () => {
  test('every Web API method the code calls has its scope', () => {
    const methods = [...source('shared/channels/slack/web-api.ts').matchAll(/call\('([\w.]+)'/g)].map((m) => m[1]!)
    expect(methods.length).toBeGreaterThan(0)
    for (const method of methods) {
      expect(scopeOfMethod, `a scope for ${method}`).toHaveProperty([method])
      expect(manifest.oauth_config.scopes.bot).toContain(scopeOfMethod[method])
    }
  })

  test('every event the handler acts on is subscribed, with its scope', () => {
    const handled = [...source('shared/channels/slack/events.ts').matchAll(/case '(\w+)':/g)].map((m) => m[1]!)
    expect(handled.length).toBeGreaterThan(0)
    for (const type of handled) {
      expect(eventsOfType, `the subscription for ${type}`).toHaveProperty([type])
      for (const event of eventsOfType[type]!) {
        expect(manifest.settings.event_subscriptions.bot_events).toContain(event)
        const scope = scopeOfEvent[event]
        if (scope) expect(manifest.oauth_config.scopes.bot).toContain(scope)
      }
    }
  })

  test('the install asks for exactly the scopes the manifest grants', () => {
    expect([...SLACK_BOT_SCOPES].sort()).toEqual([...manifest.oauth_config.scopes.bot].sort())
  })

  test('its URLs are functions the project deploys, on the project to fill in', () => {
    const config = source('supabase/config.toml')
    const deployed = new Set([...config.matchAll(/^\[functions\.([\w-]+)\]/gm)].map((m) => m[1]!))
    const urls = [
      ...manifest.oauth_config.redirect_urls,
      manifest.settings.event_subscriptions.request_url,
      manifest.settings.interactivity.request_url,
    ]
    expect(manifest.settings.interactivity.is_enabled).toBe(true)
    for (const url of urls) {
      const match = /^https:\/\/<project-ref>\.supabase\.co\/functions\/v1\/([\w-]+)$/.exec(url)
      expect(match, url).not.toBeNull()
      expect(deployed).toContain(match![1])
      // Webhooks from Slack carry no Supabase JWT: the function must verify them itself.
      const section = config.slice(config.indexOf(`[functions.${match![1]}]`)).split(/\n\[/)[0]!
      expect(section, `${match![1]} verify_jwt`).toMatch(/verify_jwt = false/)
    }
    expect(readdirSync(join(root, 'functions'))).toEqual(expect.arrayContaining([...deployed]))
  })
})
