// "Add to Slack" the way a browser and the portal do it: start with the admin's token and a
// browser secret's hash, approve on the fake Slack, follow the callback to the portal's
// /slack/finish, and complete there as the admin with the browser's secret.
import { createHash, randomBytes } from 'node:crypto'

export interface SlackInstallRun {
  start: Response
  callbackUrl: string | null
  /** Where slack-oauth sent the browser back (the portal's /slack/finish). */
  handOver: URL | null
  /** The secret the starting browser holds in its cookie. */
  browserSecret: string
  /** slack-oauth's answer to the portal's complete call: {tenant_id, outcome}. */
  completion: { status: number; body: { tenant_id: string | null; outcome: string } } | null
}

export function browserSecret() {
  const secret = randomBytes(32).toString('hex')
  return { secret, hash: createHash('sha256').update(secret).digest('hex') }
}

export async function completeSlackInstall(
  functionsUrl: string,
  input: { accessToken: string | null; code: string; state: string; browserSecret: string },
) {
  const response = await fetch(`${functionsUrl}/slack-oauth`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(input.accessToken ? { authorization: `Bearer ${input.accessToken}` } : {}),
    },
    body: JSON.stringify({
      action: 'complete',
      code: input.code,
      state: input.state,
      browser_secret: input.browserSecret,
    }),
  })
  return { status: response.status, body: (await response.json()) as { tenant_id: string | null; outcome: string } }
}

export async function installSlack(
  functionsUrl: string,
  accessToken: string,
  tenantId: string,
): Promise<SlackInstallRun> {
  const browser = browserSecret()
  const start = await fetch(`${functionsUrl}/slack-oauth/start?tenant_id=${tenantId}&browser_hash=${browser.hash}`, {
    headers: { authorization: `Bearer ${accessToken}` },
    redirect: 'manual',
  })
  if (start.status !== 302)
    return { start, callbackUrl: null, handOver: null, completion: null, browserSecret: browser.secret }
  const authorize = await fetch(start.headers.get('location')!, { redirect: 'manual' })
  const callbackUrl = authorize.headers.get('location')!
  const callback = await fetch(callbackUrl, { redirect: 'manual' })
  if (callback.status !== 302)
    return { start, callbackUrl, handOver: null, completion: null, browserSecret: browser.secret }
  const handOver = new URL(callback.headers.get('location')!)
  const completion = await completeSlackInstall(functionsUrl, {
    accessToken,
    code: handOver.searchParams.get('code') ?? '',
    state: handOver.searchParams.get('state') ?? '',
    browserSecret: browser.secret,
  })
  return { start, callbackUrl, handOver, completion, browserSecret: browser.secret }
}
