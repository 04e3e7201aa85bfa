// The [auth] settings of supabase/config.toml that the local Auth server honours,
// with the Supabase CLI's defaults for what the file leaves out. Only the small part
// of TOML that config.toml uses is understood: sections, and `key = value` lines
// whose value is a string, number, boolean or one-line array of strings.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface AuthConfig {
  siteUrl: string
  additionalRedirectUrls: string[]
  /** Lifetime of access tokens, seconds (GoTrue's JWT_EXP). */
  jwtExpiry: number
  refreshTokenRotation: boolean
  /** Seconds a just-rotated refresh token may still be presented (GoTrue's REFRESH_TOKEN_REUSE_INTERVAL). */
  refreshTokenReuseInterval: number
  signupEnabled: boolean
  minimumPasswordLength: number
  /** Email sign-ups are confirmed at once (GoTrue's MAILER_AUTOCONFIRM) unless confirmations are on. */
  mailerAutoconfirm: boolean
  /** Lifetime of emailed links and codes, seconds. */
  otpExpiry: number
}

/** Access token lifetime when config.toml does not say, as on Supabase. */
export const DEFAULT_JWT_EXPIRY_SECONDS = 3600

const defaults: AuthConfig = {
  siteUrl: 'http://127.0.0.1:3000',
  additionalRedirectUrls: [],
  jwtExpiry: DEFAULT_JWT_EXPIRY_SECONDS,
  refreshTokenRotation: true,
  refreshTokenReuseInterval: 10,
  signupEnabled: true,
  minimumPasswordLength: 6,
  mailerAutoconfirm: true,
  otpExpiry: 3600,
}

type TomlValue = string | number | boolean | string[]

/** Sections of a small TOML file, each a map of its keys. */
export function parseSimpleToml(text: string): Map<string, Map<string, TomlValue>> {
  const sections = new Map<string, Map<string, TomlValue>>([['', new Map()]])
  let current = sections.get('')!
  for (const raw of text.split(/\r?\n/)) {
    const line = stripComment(raw).trim()
    if (!line) continue
    const header = /^\[([^\]]+)\]$/.exec(line)
    if (header) {
      const name = header[1].trim()
      if (!sections.has(name)) sections.set(name, new Map())
      current = sections.get(name)!
      continue
    }
    const pair = /^([A-Za-z0-9_.-]+)\s*=\s*(.+)$/.exec(line)
    if (!pair) continue
    const value = parseValue(pair[2].trim())
    if (value !== undefined) current.set(pair[1], value)
  }
  return sections
}

function stripComment(line: string): string {
  let inString = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '"' && line[i - 1] !== '\\') inString = !inString
    if (c === '#' && !inString) return line.slice(0, i)
  }
  return line
}

function parseValue(text: string): TomlValue | undefined {
  if (text === 'true' || text === 'false') return text === 'true'
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text)
  if (/^".*"$/.test(text)) return JSON.parse(text) as string
  if (/^'.*'$/.test(text)) return text.slice(1, -1)
  if (/^\[.*\]$/.test(text)) {
    const items = text.slice(1, -1).match(/"(?:[^"\\]|\\.)*"|'[^']*'/g) ?? []
    return items.map((item) => (item.startsWith('"') ? (JSON.parse(item) as string) : item.slice(1, -1)))
  }
  return undefined
}

const cache = new Map<string, AuthConfig>()

/** The auth settings for the repository at `root` (read once per process). */
export function loadAuthConfig(root: string): AuthConfig {
  const cached = cache.get(root)
  if (cached) return cached
  const file = join(root, 'supabase', 'config.toml')
  const sections = existsSync(file) ? parseSimpleToml(readFileSync(file, 'utf8')) : new Map()
  const auth = sections.get('auth') ?? new Map<string, TomlValue>()
  const email = sections.get('auth.email') ?? new Map<string, TomlValue>()
  const str = (m: Map<string, TomlValue>, k: string, d: string) =>
    typeof m.get(k) === 'string' ? (m.get(k) as string) : d
  const num = (m: Map<string, TomlValue>, k: string, d: number) =>
    typeof m.get(k) === 'number' ? (m.get(k) as number) : d
  const bool = (m: Map<string, TomlValue>, k: string, d: boolean) =>
    typeof m.get(k) === 'boolean' ? (m.get(k) as boolean) : d
  const list = auth.get('additional_redirect_urls')
  const config: AuthConfig = {
    siteUrl: str(auth, 'site_url', defaults.siteUrl),
    additionalRedirectUrls: Array.isArray(list) ? list : defaults.additionalRedirectUrls,
    jwtExpiry: num(auth, 'jwt_expiry', defaults.jwtExpiry),
    refreshTokenRotation: bool(auth, 'enable_refresh_token_rotation', defaults.refreshTokenRotation),
    refreshTokenReuseInterval: num(auth, 'refresh_token_reuse_interval', defaults.refreshTokenReuseInterval),
    signupEnabled: bool(auth, 'enable_signup', true) && bool(email, 'enable_signup', true),
    minimumPasswordLength: num(auth, 'minimum_password_length', defaults.minimumPasswordLength),
    mailerAutoconfirm: !bool(email, 'enable_confirmations', false),
    otpExpiry: num(email, 'otp_expiry', defaults.otpExpiry),
  }
  cache.set(root, config)
  return config
}
