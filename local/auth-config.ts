// The [auth] settings of supabase/config.toml that the local Auth server honours,
// with the Supabase CLI's defaults for what the file leaves out.
import type { TomlTable } from 'smol-toml'
import { readProjectConfig, section } from './project-config.ts'

export interface AuthConfig {
  siteUrl: string
  additionalRedirectUrls: string[]
  /** Lifetime of access tokens, seconds (GoTrue's JWT_EXP). */
  jwtExpiry: number
  refreshTokenRotation: boolean
  /** Seconds a just-rotated refresh token may still be presented (GoTrue's REFRESH_TOKEN_REUSE_INTERVAL). */
  refreshTokenReuseInterval: number
  signupEnabled: boolean
  /** signInAnonymously() is allowed ([auth] enable_anonymous_sign_ins; off by default, as in the CLI). */
  anonymousSignIns: boolean
  minimumPasswordLength: number
  /** Email sign-ups are confirmed at once (GoTrue's MAILER_AUTOCONFIRM) unless confirmations are on. */
  mailerAutoconfirm: boolean
  /** Lifetime of emailed links and codes, seconds. */
  otpExpiry: number
}

/** Access token lifetime when config.toml does not say, as on Supabase. */
export const DEFAULT_JWT_EXPIRY_SECONDS = 3600

const str = (t: TomlTable, k: string, d: string) => (typeof t[k] === 'string' ? (t[k] as string) : d)
const num = (t: TomlTable, k: string, d: number) => (typeof t[k] === 'number' ? (t[k] as number) : d)
const bool = (t: TomlTable, k: string, d: boolean) => (typeof t[k] === 'boolean' ? (t[k] as boolean) : d)

/** The auth settings for the repository at `root` (follows edits of config.toml). */
export function loadAuthConfig(root: string): AuthConfig {
  const config = readProjectConfig(root)
  const auth = section(config, 'auth')
  const email = section(config, 'auth', 'email')
  const list = auth['additional_redirect_urls']
  return {
    siteUrl: str(auth, 'site_url', 'http://127.0.0.1:3000'),
    additionalRedirectUrls: Array.isArray(list) ? list.filter((u): u is string => typeof u === 'string') : [],
    jwtExpiry: num(auth, 'jwt_expiry', DEFAULT_JWT_EXPIRY_SECONDS),
    refreshTokenRotation: bool(auth, 'enable_refresh_token_rotation', true),
    refreshTokenReuseInterval: num(auth, 'refresh_token_reuse_interval', 10),
    signupEnabled: bool(auth, 'enable_signup', true) && bool(email, 'enable_signup', true),
    anonymousSignIns: bool(auth, 'enable_anonymous_sign_ins', false),
    minimumPasswordLength: num(auth, 'minimum_password_length', 6),
    mailerAutoconfirm: !bool(email, 'enable_confirmations', false),
    otpExpiry: num(email, 'otp_expiry', 3600),
  }
}
