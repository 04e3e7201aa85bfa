// One place that builds a Stripe SDK client. Every base URL comes from the environment
// (DESIGN.md): STRIPE_API_URL, when set, points the SDK's host, port and protocol at
// another server (a fake in tests, a proxy for self-hosters); otherwise api.stripe.com.
// The fetch HTTP client works the same under Deno (the functions), Node and vitest.
import Stripe from 'stripe'

export interface StripeClientOptions {
  secretKey: string
  /** e.g. http://127.0.0.1:12111; omitted = https://api.stripe.com. */
  apiUrl?: string
  /** The SDK's own retries (with an automatic Idempotency-Key); 0 when a queue retries. */
  maxNetworkRetries?: number
  timeoutMs?: number
}

/** host/port/protocol for the SDK from a base URL such as http://127.0.0.1:12111. */
export function stripeAddress(apiUrl: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const url = new URL(apiUrl)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('STRIPE_API_URL must be http(s)')
  const protocol = url.protocol === 'http:' ? 'http' : 'https'
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol }
}

export function createStripeClient(options: StripeClientOptions): Stripe {
  const config: Stripe.StripeConfig = {
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    appInfo: { name: 'Konstruct', url: 'https://github.com/konstruct' },
  }
  if (options.apiUrl) Object.assign(config, stripeAddress(options.apiUrl))
  return new Stripe(options.secretKey, config)
}

export { Stripe }
