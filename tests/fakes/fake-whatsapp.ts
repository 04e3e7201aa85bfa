// A fake WhatsApp Cloud API for tests: POST /<version>/<phone_number_id>/messages and
// GET /<version>/<waba-id>/phone_numbers (point WHATSAPP_API_URL at `url`). Like Graph, a
// business account's numbers are listed only for a token that was given access to that
// account (addBusinessAccount); any other token gets error 100 "object does not exist". It records every request, keeps what was sent, answers like
// the Graph API (wamid ids, { success: true } for mark-as-read, Graph error bodies) and can
// fail on demand with throttling codes, HTTP 429 or 500.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { startRecordingServer, type FakeResponse, type RecordedRequest } from './recording-server.ts'

export type { RecordedRequest } from './recording-server.ts'

export type WhatsAppFailure =
  /** A Graph error body, e.g. code 130429 (throughput), 131056 (pair rate), 80007, 131047 (window). */
  | { kind: 'graph_error'; code: number; status?: number; details?: string }
  | { kind: 'http_429'; retryAfter?: number }
  | { kind: 'http_500' }

export interface SentWhatsAppMessage {
  phoneNumberId: string
  to: string
  type: string
  messageId: string
  /** The request body as sent. */
  body: Record<string, unknown>
}

/** The seeded demo number's business account (supabase/seed.sql); deliveries name it by default. */
export const DEMO_WABA_ID = '200000000000001'

export interface FakeBusinessAccount {
  id: string
  /** Tokens that were granted access to this account (a system user's, an Embedded Signup token). */
  tokens: string[]
  phoneNumbers: Array<{ id: string; displayPhoneNumber: string }>
}

/** A file a customer sent: GET /<version>/<id> describes it, GET /media/<id> serves it. */
export interface FakeWhatsAppMedia {
  id: string
  bytes: Uint8Array
  mimeType: string
  /** What the description's url says instead of this server's /media/<id> (a foreign host). */
  url?: string
  /** What the description's file_size says instead of the real size. */
  declaredSize?: number
}

export interface FakeWhatsApp {
  /** Base URL for WHATSAPP_API_URL. */
  url: string
  /** Keeps a media file for the media endpoints (the token must be the access token). */
  addMedia(media: FakeWhatsAppMedia): void
  /** Gives `tokens` access to a business account and its numbers. */
  addBusinessAccount(account: FakeBusinessAccount): void
  requests: RecordedRequest[]
  /** Messages accepted (not mark-as-read calls). */
  sent: SentWhatsAppMessage[]
  /** Message ids marked as read. */
  readReceipts: Array<{ phoneNumberId: string; messageId: string }>
  /** Typing indicators shown (a read receipt with `typing_indicator: {type: 'text'}`), in order. */
  typingIndicators: Array<{ phoneNumberId: string; messageId: string }>
  failNext(failure: WhatsAppFailure, options?: { times?: number; phoneNumberId?: string }): void
  waitForSent(count: number, timeoutMs?: number): Promise<RecordedRequest[]>
  close(): Promise<void>
}

const ERROR_TITLES: Record<number, string> = {
  4: 'Application request limit reached',
  80007: 'Rate limit issues',
  130429: 'Rate limit hit',
  131047: 'Re-engagement message',
  131056: '(Business Account, Consumer Account) pair rate limit hit',
}

export async function startFakeWhatsApp(options: { accessToken?: string } = {}): Promise<FakeWhatsApp> {
  const sent: SentWhatsAppMessage[] = []
  const readReceipts: Array<{ phoneNumberId: string; messageId: string }> = []
  const typingIndicators: Array<{ phoneNumberId: string; messageId: string }> = []
  const pathPattern = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/
  const numbersPattern = /^\/(v\d+\.\d+)\/([^/]+)\/phone_numbers$/
  const accounts = new Map<string, FakeBusinessAccount>()

  const listNumbers = (request: RecordedRequest, wabaId: string): FakeResponse => {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '')?.[1]
    if (!token) return graphError(401, 190, 'Invalid OAuth access token', 'no token')
    const account = accounts.get(wabaId)
    if (!account || !account.tokens.includes(token)) {
      return graphError(
        400,
        100,
        'Unsupported get request',
        `Object with ID '${wabaId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`,
      )
    }
    return {
      status: 200,
      body: {
        data: account.phoneNumbers.map((n) => ({
          id: n.id,
          display_phone_number: n.displayPhoneNumber,
          verified_name: 'Test Business',
        })),
        paging: { cursors: { before: 'b', after: 'a' } },
      },
    }
  }

  const media = new Map<string, FakeWhatsAppMedia>()
  const mediaPattern = /^\/(v\d+\.\d+)\/([^/]+)$/
  const downloadPattern = /^\/media\/([^/]+)$/
  let baseUrl = ''
  const authorized = (request: RecordedRequest) => {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '')?.[1]
    return token !== undefined && (options.accessToken === undefined || token === options.accessToken)
  }
  // Graph's media endpoints: a description with a short-lived url, then the bytes at that url.
  const serveMedia = (request: RecordedRequest): FakeResponse | null => {
    if (request.method !== 'GET') return null
    const described = mediaPattern.exec(request.path)
    const download = downloadPattern.exec(request.path)
    if (!described && !download) return null
    if (!authorized(request)) return graphError(401, 190, 'Invalid OAuth access token', 'no or wrong token')
    const file = media.get(decodeURIComponent((described?.[2] ?? download?.[1])!))
    if (!file) return graphError(400, 100, 'Unsupported get request', 'Object does not exist')
    if (download) return { status: 200, headers: { 'content-type': file.mimeType }, body: file.bytes }
    return {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        url: file.url ?? `${baseUrl}/media/${encodeURIComponent(file.id)}?ext=${Date.now()}`,
        mime_type: file.mimeType,
        sha256: createHash('sha256').update(file.bytes).digest('hex'),
        file_size: String(file.declaredSize ?? file.bytes.byteLength),
        id: file.id,
      },
    }
  }

  const route = (request: RecordedRequest, failure: WhatsAppFailure | null): FakeResponse => {
    const served = serveMedia(request)
    if (served) return served
    const numbers = numbersPattern.exec(request.path)
    if (request.method === 'GET' && numbers) return listNumbers(request, decodeURIComponent(numbers[2]!))
    const match = pathPattern.exec(request.path)
    if (request.method !== 'POST' || !match)
      return graphError(400, 100, 'Unsupported request', 'unknown path or method')
    const phoneNumberId = decodeURIComponent(match[2]!)

    const token = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '')?.[1]
    if (!token || (options.accessToken !== undefined && token !== options.accessToken)) {
      return graphError(
        401,
        190,
        'Invalid OAuth access token',
        'Invalid OAuth access token - Cannot parse access token',
      )
    }
    if (failure?.kind === 'http_429')
      return {
        status: 429,
        headers: { 'retry-after': String(failure.retryAfter ?? 1) },
        body: { error: { message: 'Too many requests', type: 'OAuthException' } },
      }
    if (failure?.kind === 'http_500')
      return { status: 500, body: { error: { message: 'An unknown error occurred', type: 'OAuthException', code: 1 } } }
    if (failure?.kind === 'graph_error') {
      return graphError(
        failure.status ?? 400,
        failure.code,
        ERROR_TITLES[failure.code] ?? 'Error',
        failure.details ?? ERROR_TITLES[failure.code] ?? 'failed',
      )
    }

    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >
    if (body['messaging_product'] !== 'whatsapp')
      return graphError(400, 100, 'Invalid parameter', 'messaging_product must be whatsapp')

    if (body['status'] === 'read') {
      const messageId = typeof body['message_id'] === 'string' ? body['message_id'] : ''
      if (!messageId) return graphError(400, 100, 'Invalid parameter', 'message_id is required')
      const typing = body['typing_indicator']
      if (
        typing !== undefined &&
        (typeof typing !== 'object' || (typing as Record<string, unknown>)['type'] !== 'text')
      )
        return graphError(400, 100, 'Invalid parameter', 'typing_indicator.type must be text')
      readReceipts.push({ phoneNumberId, messageId })
      if (typing !== undefined) typingIndicators.push({ phoneNumberId, messageId })
      return { status: 200, body: { success: true } }
    }

    const to = typeof body['to'] === 'string' ? body['to'] : ''
    const type = typeof body['type'] === 'string' ? body['type'] : 'text'
    if (!to) return graphError(400, 100, 'Invalid parameter', 'to is required')
    const problem = validate(type, body)
    if (problem) return graphError(400, 100, 'Invalid parameter', problem)

    const messageId = `wamid.${randomBytes(24).toString('base64url')}`
    sent.push({ phoneNumberId, to, type, messageId, body })
    return {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        contacts: [{ input: to, wa_id: to.replace(/\D/g, '') }],
        messages: [type === 'template' ? { id: messageId, message_status: 'accepted' } : { id: messageId }],
      },
    }
  }

  const server = await startRecordingServer<WhatsAppFailure>(route)
  baseUrl = server.url
  return {
    url: server.url,
    addMedia: (file) => void media.set(file.id, file),
    addBusinessAccount(account) {
      accounts.set(account.id, account)
    },
    requests: server.requests,
    sent,
    readReceipts,
    typingIndicators,
    failNext(failure, { times = 1, phoneNumberId } = {}) {
      server.arm(failure, times, (r) => {
        const match = pathPattern.exec(r.path)
        return match !== null && (phoneNumberId === undefined || match[2] === phoneNumberId)
      })
    },
    waitForSent: (count, timeoutMs) =>
      server.waitForRequests(
        count,
        (r) => pathPattern.test(r.path) && (r.body as Record<string, unknown> | null)?.['status'] !== 'read',
        timeoutMs,
      ),
    close: () => server.close(),
  }
}

// The checks Meta makes that a test is most likely to trip over.
function validate(type: string, body: Record<string, unknown>): string | null {
  const part = body[type] as Record<string, unknown> | undefined
  if (!part || typeof part !== 'object') return `${type} object is required`
  if (type === 'text') {
    const text = part['body']
    if (typeof text !== 'string' || !text) return 'text.body is required'
    if (text.length > 4096) return 'text.body is too long (max 4096)'
  }
  if (
    type === 'template' &&
    (typeof part['name'] !== 'string' ||
      typeof (part['language'] as Record<string, unknown> | undefined)?.['code'] !== 'string')
  ) {
    return 'template.name and template.language.code are required'
  }
  if (type === 'interactive') {
    const buttons = ((part['action'] as Record<string, unknown> | undefined)?.['buttons'] ?? []) as unknown[]
    if (part['type'] === 'button' && (buttons.length < 1 || buttons.length > 3))
      return 'between 1 and 3 buttons are required'
  }
  return null
}

function graphError(status: number, code: number, title: string, details: string): FakeResponse {
  return {
    status,
    body: {
      error: {
        message: `(#${code}) ${title}`,
        type: 'OAuthException',
        code,
        error_data: { messaging_product: 'whatsapp', details },
        fbtrace_id: `Afake${randomBytes(6).toString('hex')}`,
      },
    },
  }
}

/** The X-Hub-Signature-256 header Meta would send for `body` (node:crypto, independent of the product code). */
export function signWhatsAppBody(appSecret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`
}

/** A webhook delivery carrying one inbound text message, shaped like Meta's. */
export function whatsAppTextWebhook(input: {
  phoneNumberId: string
  /** The business account the number belongs to (entry.id); the demo account by default. */
  wabaId?: string
  from: string
  text: string
  messageId?: string
  name?: string
  timestampSeconds?: number
  displayPhoneNumber?: string
}) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: input.wabaId ?? DEMO_WABA_ID,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: {
                display_phone_number: input.displayPhoneNumber ?? '15550000000',
                phone_number_id: input.phoneNumberId,
              },
              contacts: [{ profile: { name: input.name ?? 'Test Customer' }, wa_id: input.from }],
              messages: [
                {
                  from: input.from,
                  id: input.messageId ?? `wamid.${randomBytes(12).toString('base64url')}`,
                  timestamp: String(input.timestampSeconds ?? Math.floor(Date.now() / 1000)),
                  type: 'text',
                  text: { body: input.text },
                },
              ],
            },
          },
        ],
      },
    ],
  }
}

/** A webhook delivery carrying one status update for a message we sent. */
export function whatsAppStatusWebhook(input: {
  phoneNumberId: string
  wabaId?: string
  messageId: string
  recipientId: string
  status: 'sent' | 'delivered' | 'read' | 'failed'
  errorCode?: number
  timestampSeconds?: number
}) {
  const status: Record<string, unknown> = {
    id: input.messageId,
    status: input.status,
    timestamp: String(input.timestampSeconds ?? Math.floor(Date.now() / 1000)),
    recipient_id: input.recipientId,
  }
  if (input.status === 'failed') {
    const code = input.errorCode ?? 131047
    status['errors'] = [
      {
        code,
        title: ERROR_TITLES[code] ?? 'Error',
        message: ERROR_TITLES[code] ?? 'Error',
        error_data: { details: 'failed in test' },
      },
    ]
  }
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: input.wabaId ?? DEMO_WABA_ID,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550000000', phone_number_id: input.phoneNumberId },
              statuses: [status],
            },
          },
        ],
      },
    ],
  }
}
