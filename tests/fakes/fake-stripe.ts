// A fake Stripe API for tests (point STRIPE_API_URL at `url`): the slice Konstruct uses —
// customers, Checkout and Billing Portal sessions, meter events, and the products,
// prices and meters that scripts/stripe-setup.ts creates. It records every request,
// answers in Stripe's shapes (form-encoded in, JSON and Stripe error bodies out), replays
// a completed request for a repeated Idempotency-Key like Stripe does, counts a meter
// event's identifier once, and fails on purpose:
//   failNext({kind: 'http_500'}, {times, path})        Stripe's api_error, nothing done
//   failNext({kind: 'accept_then_500'}, {times, path}) done, but the answer is lost
import { startRecordingServer, type FakeResponse, type RecordedRequest } from './recording-server.ts'

export type { RecordedRequest } from './recording-server.ts'

export type StripeFailure = { kind: 'http_500' } | { kind: 'accept_then_500' }

export interface AcceptedMeterEvent {
  identifier: string
  event_name: string
  customer: string
  value: number
  timestamp: number
}

export interface FakeStripe {
  url: string
  requests: RecordedRequest[]
  customers: Array<Record<string, unknown>>
  checkoutSessions: Array<Record<string, unknown>>
  portalSessions: Array<Record<string, unknown>>
  /** Meter events Stripe would count: one per identifier. */
  meterEvents: AcceptedMeterEvent[]
  products: Map<string, Record<string, unknown>>
  prices: Array<Record<string, unknown>>
  meters: Array<Record<string, unknown>>
  failNext(failure: StripeFailure, options?: { times?: number; path?: string }): void
  /** Requests to a path (e.g. /v1/billing/meter_events). */
  calls(path: string): RecordedRequest[]
  close(): Promise<void>
}

function stripeError(status: number, type: string, message: string, code?: string): FakeResponse {
  return { status, body: { error: { type, message, ...(code ? { code } : {}) } } }
}

/** Stripe's form encoding (a[b][0][c]=v) back into a flat map of bracketed keys. */
function form(request: RecordedRequest): Record<string, string> {
  return (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, string>
}

export async function startFakeStripe(options: { secretKey?: string } = {}): Promise<FakeStripe> {
  const customers: Array<Record<string, unknown>> = []
  const checkoutSessions: Array<Record<string, unknown>> = []
  const portalSessions: Array<Record<string, unknown>> = []
  const meterEvents: AcceptedMeterEvent[] = []
  const products = new Map<string, Record<string, unknown>>()
  const prices: Array<Record<string, unknown>> = []
  const meters: Array<Record<string, unknown>> = []
  const idempotent = new Map<string, FakeResponse>()
  let counter = 0
  const nextId = (prefix: string) => `${prefix}_fake${String(++counter).padStart(6, '0')}`

  function handle(request: RecordedRequest): FakeResponse {
    const params = form(request)
    const { method, path } = request
    if (method === 'POST' && path === '/v1/customers') {
      const customer = {
        id: nextId('cus'),
        object: 'customer',
        name: params['name'] ?? null,
        email: params['email'] ?? null,
        metadata: { tenant_id: params['metadata[tenant_id]'], tenant_slug: params['metadata[tenant_slug]'] },
      }
      customers.push(customer)
      return { status: 200, body: customer }
    }
    if (method === 'POST' && path === '/v1/checkout/sessions') {
      if (!params['customer'] || !params['line_items[0][price]'] || !params['success_url']) {
        return stripeError(400, 'invalid_request_error', 'Missing required param: customer, line_items or success_url.')
      }
      const id = nextId('cs_test')
      const session = { id, object: 'checkout.session', url: `https://checkout.stripe.test/c/pay/${id}`, params }
      checkoutSessions.push(session)
      return { status: 200, body: session }
    }
    if (method === 'POST' && path === '/v1/billing_portal/sessions') {
      if (!params['customer']) return stripeError(400, 'invalid_request_error', 'Missing required param: customer.')
      const id = nextId('bps')
      const session = {
        id,
        object: 'billing_portal.session',
        url: `https://billing.stripe.test/p/session/${id}`,
        params,
      }
      portalSessions.push(session)
      return { status: 200, body: session }
    }
    if (method === 'POST' && path === '/v1/billing/meter_events') {
      const identifier = params['identifier'] ?? nextId('mev')
      if (!params['event_name'] || !params['payload[stripe_customer_id]'] || !params['payload[value]']) {
        return stripeError(400, 'invalid_request_error', 'Missing required param: event_name or payload.')
      }
      if (meterEvents.some((e) => e.identifier === identifier)) {
        return stripeError(
          400,
          'invalid_request_error',
          `An event already exists with identifier ${identifier}.`,
          'resource_already_exists',
        )
      }
      const event: AcceptedMeterEvent = {
        identifier,
        event_name: params['event_name'],
        customer: params['payload[stripe_customer_id]'],
        value: Number(params['payload[value]']),
        timestamp: Number(params['timestamp'] ?? Math.floor(Date.now() / 1000)),
      }
      meterEvents.push(event)
      return {
        status: 200,
        body: {
          object: 'billing.meter_event',
          created: Math.floor(Date.now() / 1000),
          event_name: event.event_name,
          identifier,
          livemode: false,
          payload: { stripe_customer_id: event.customer, value: String(event.value) },
          timestamp: event.timestamp,
        },
      }
    }
    // scripts/stripe-setup.ts: products by id, prices by lookup key, meters by event name.
    const product = /^\/v1\/products\/([^/]+)$/.exec(path)
    if (method === 'GET' && product) {
      const found = products.get(decodeURIComponent(product[1]!))
      return found
        ? { status: 200, body: found }
        : stripeError(404, 'invalid_request_error', 'No such product', 'resource_missing')
    }
    if (method === 'POST' && product) {
      const found = products.get(decodeURIComponent(product[1]!))
      if (!found) return stripeError(404, 'invalid_request_error', 'No such product', 'resource_missing')
      if (params['name']) found['name'] = params['name']
      return { status: 200, body: found }
    }
    if (method === 'POST' && path === '/v1/products') {
      const id = params['id'] ?? nextId('prod')
      if (products.has(id))
        return stripeError(400, 'invalid_request_error', 'Product already exists.', 'resource_already_exists')
      const created = {
        id,
        object: 'product',
        name: params['name'],
        active: true,
        metadata: { konstruct_plan: params['metadata[konstruct_plan]'] },
      }
      products.set(id, created)
      return { status: 200, body: created }
    }
    if (method === 'GET' && path === '/v1/prices') {
      const keys = Object.entries(request.query)
        .filter(([k]) => k.startsWith('lookup_keys'))
        .map(([, v]) => v)
      const data = prices.filter((p) => keys.length === 0 || keys.includes(String(p['lookup_key'])))
      return { status: 200, body: { object: 'list', data, has_more: false, url: '/v1/prices' } }
    }
    if (method === 'POST' && path === '/v1/prices') {
      const lookupKey = params['lookup_key']
      if (lookupKey && prices.some((p) => p['lookup_key'] === lookupKey)) {
        return stripeError(400, 'invalid_request_error', 'A price with this lookup_key already exists.')
      }
      const created = {
        id: nextId('price'),
        object: 'price',
        active: true,
        product: params['product'],
        lookup_key: lookupKey ?? null,
        currency: params['currency'],
        unit_amount: params['unit_amount'] ? Number(params['unit_amount']) : null,
        unit_amount_decimal: params['unit_amount_decimal'] ?? null,
        recurring: {
          interval: params['recurring[interval]'],
          usage_type: params['recurring[usage_type]'] ?? 'licensed',
          meter: params['recurring[meter]'] ?? null,
        },
        params,
      }
      prices.push(created)
      return { status: 200, body: created }
    }
    if (method === 'GET' && path === '/v1/billing/meters') {
      return { status: 200, body: { object: 'list', data: meters, has_more: false, url: '/v1/billing/meters' } }
    }
    if (method === 'POST' && path === '/v1/billing/meters') {
      const created = {
        id: nextId('mtr'),
        object: 'billing.meter',
        status: 'active',
        event_name: params['event_name'],
        display_name: params['display_name'],
        default_aggregation: { formula: params['default_aggregation[formula]'] },
      }
      meters.push(created)
      return { status: 200, body: created }
    }
    return stripeError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`)
  }

  const server = await startRecordingServer<StripeFailure>((request, failure) => {
    const key = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '')?.[1]
    if (!key || (options.secretKey !== undefined && key !== options.secretKey)) {
      return stripeError(401, 'invalid_request_error', 'Invalid API Key provided.')
    }
    if (failure?.kind === 'http_500') return stripeError(500, 'api_error', 'Something went wrong on our end (fake).')
    // A completed request with the same Idempotency-Key gets its first answer again.
    const idempotencyKey = request.method === 'POST' ? request.headers['idempotency-key'] : undefined
    const replay = idempotencyKey ? idempotent.get(`${request.path}|${idempotencyKey}`) : undefined
    if (replay) return { ...replay, headers: { ...replay.headers, 'idempotent-replayed': 'true' } }
    const response = handle(request)
    if (idempotencyKey && response.status < 500) idempotent.set(`${request.path}|${idempotencyKey}`, response)
    if (failure?.kind === 'accept_then_500') return stripeError(500, 'api_error', 'The answer was lost (fake).')
    return response
  })

  return {
    url: server.url,
    requests: server.requests,
    customers,
    checkoutSessions,
    portalSessions,
    meterEvents,
    products,
    prices,
    meters,
    failNext(failure, { times = 1, path } = {}) {
      server.arm(
        failure,
        times,
        (request) => request.method === 'POST' && (path === undefined || request.path === path),
      )
    },
    calls: (path) => server.requests.filter((r) => r.path === path),
    close: () => server.close(),
  }
}
