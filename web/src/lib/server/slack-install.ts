// The browser half of "Add to Slack": a secret in an httpOnly cookie of the browser that
// started the install, whose hash the signed state carries. Slack sends that browser back
// through slack-oauth to /slack/finish, where the portal completes the install as the
// signed-in admin with the cookie's secret; any other browser or account is refused.
import type { Cookies } from '@sveltejs/kit'

export const SLACK_INSTALL_COOKIE = 'konstruct_slack_install'

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** A fresh secret in this browser's cookie; returns its hash for the state. */
export async function bindInstallToBrowser(cookies: Cookies, secure: boolean): Promise<string> {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  const secret = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
  cookies.set(SLACK_INSTALL_COOKIE, secret, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: 600 })
  return sha256Hex(secret)
}

/** The secret this browser holds, once: the cookie is removed as it is read. */
export function takeInstallSecret(cookies: Cookies): string | null {
  const secret = cookies.get(SLACK_INSTALL_COOKIE) ?? null
  cookies.delete(SLACK_INSTALL_COOKIE, { path: '/' })
  return secret
}
