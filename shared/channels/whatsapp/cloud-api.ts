// Outbound WhatsApp Cloud API client over fetch: text, reply buttons, templates, mark read.
// Meta reports throttling as Graph errors with specific codes (often with HTTP 400, not
// 429); they are turned into WhatsAppRateLimitError with a suggested delay, so the queue
// can reschedule the reply instead of failing it. The client itself never retries: a send
// that may have been accepted must not be sent twice.

export const DEFAULT_WHATSAPP_API_URL = 'https://graph.facebook.com'
/** Graph API version used unless configured; a parameter so upgrades need no code change. */
export const DEFAULT_WHATSAPP_API_VERSION = 'v21.0'

/** Throttling codes → how long to wait before trying again (ms). */
const RATE_LIMIT_DELAYS_MS: Record<number, number> = {
  4: 60_000, // app-level "API too many calls"
  80007: 60_000, // WhatsApp Business Account rate limit
  130429: 2_000, // per-number throughput (messages per second) reached
  131056: 6_000, // pair rate limit: same business number to the same customer too fast
}
const DEFAULT_HTTP_429_DELAY_MS = 5_000

export class WhatsAppRateLimitError extends Error {
  override readonly name = 'WhatsAppRateLimitError'
  readonly retryable = true
  constructor(
    /** The Graph error code, or null for a bare HTTP 429. */
    readonly code: number | null,
    readonly retryAfterMs: number,
  ) {
    super(`WhatsApp rate limited (${code ?? 'HTTP 429'}); retry after ${retryAfterMs}ms`)
  }
}

export class WhatsAppApiError extends Error {
  override readonly name = 'WhatsAppApiError'
  constructor(
    readonly status: number,
    readonly code: number | null,
    readonly subcode: number | null,
    /** Meta's explanation: for logs and admins, never shown to chat users. */
    readonly details: string | null,
    readonly fbtraceId: string | null,
  ) {
    super(`WhatsApp API error ${code ?? 'unknown'} (HTTP ${status})`)
  }
  /** 131047: more than 24 hours since the customer wrote; only a template can be sent. */
  get outsideServiceWindow(): boolean {
    return this.code === 131047
  }
  /** The access token is invalid or expired; retrying will not help. */
  get isAuthError(): boolean {
    return this.code === 190 || this.status === 401
  }
  /** Meta-side trouble worth another attempt later. */
  get retryable(): boolean {
    return this.status >= 500 || this.code === 1 || this.code === 2 || this.code === 131000 || this.code === 131016
  }
}

export interface WhatsAppClientOptions {
  /** The platform app's system-user token, or the tenant's own. */
  accessToken: string
  /** WHATSAPP_API_URL; the real Graph API by default. */
  apiUrl?: string
  apiVersion?: string
  fetch?: typeof fetch
  timeoutMs?: number
}

export interface ReplyButton {
  /** Comes back as interactive.button_reply.id (≤ 256 chars). */
  id: string
  /** Shown on the button (≤ 20 chars). */
  title: string
}

export interface TemplateMessage {
  name: string
  languageCode: string
  /** Header/body/button parameters exactly as the Cloud API expects them. */
  components?: unknown[]
}

export function createWhatsAppClient(options: WhatsAppClientOptions) {
  if (!options.accessToken) throw new Error('WhatsApp access token is not set')
  const apiUrl = (options.apiUrl ?? DEFAULT_WHATSAPP_API_URL).replace(/\/+$/, '')
  const version = options.apiVersion ?? DEFAULT_WHATSAPP_API_VERSION
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 10_000

  async function post(phoneNumberId: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return call(`${encodeURIComponent(phoneNumberId)}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', ...body }),
    })
  }

  async function call(path: string, init: RequestInit): Promise<Record<string, unknown>> {
    const response = await doFetch(`${apiUrl}/${version}/${path}`, {
      ...init,
      signal: AbortSignal.timeout(timeoutMs),
    })
    let data: unknown = null
    try {
      data = await response.json()
    } catch {
      // handled below: a non-JSON answer is an error whatever the status
    }
    const record = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : null
    const error =
      record && typeof record['error'] === 'object' && record['error'] !== null
        ? (record['error'] as Record<string, unknown>)
        : null
    if (response.ok && record && !error) return record

    const code = typeof error?.['code'] === 'number' ? error['code'] : null
    if (code !== null && code in RATE_LIMIT_DELAYS_MS)
      throw new WhatsAppRateLimitError(code, RATE_LIMIT_DELAYS_MS[code]!)
    if (response.status === 429) {
      const seconds = Number(response.headers.get('retry-after'))
      throw new WhatsAppRateLimitError(
        code,
        Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_HTTP_429_DELAY_MS,
      )
    }
    const errorData = error?.['error_data']
    const details =
      typeof errorData === 'object' &&
      errorData !== null &&
      typeof (errorData as Record<string, unknown>)['details'] === 'string'
        ? ((errorData as Record<string, unknown>)['details'] as string)
        : typeof error?.['message'] === 'string'
          ? error['message']
          : null
    throw new WhatsAppApiError(
      response.status,
      code,
      typeof error?.['error_subcode'] === 'number' ? error['error_subcode'] : null,
      details,
      typeof error?.['fbtrace_id'] === 'string' ? error['fbtrace_id'] : null,
    )
  }

  async function send(phoneNumberId: string, to: string, message: Record<string, unknown>, replyTo?: string) {
    const data = await post(phoneNumberId, {
      recipient_type: 'individual',
      to,
      ...message,
      ...(replyTo ? { context: { message_id: replyTo } } : {}),
    })
    const messages = data['messages']
    const first = Array.isArray(messages) ? (messages[0] as Record<string, unknown> | undefined) : undefined
    if (typeof first?.['id'] !== 'string')
      throw new WhatsAppApiError(200, null, null, 'no message id in response', null)
    return { messageId: first['id'] }
  }

  return {
    /**
     * The phone numbers of a WhatsApp Business Account as this token sees them (Graph
     * GET /<waba-id>/phone_numbers): the proof that the token controls a number there.
     * A token without access to the account gets a Graph error (WhatsAppApiError).
     */
    async listBusinessPhoneNumbers(
      businessAccountId: string,
    ): Promise<Array<{ id: string; displayPhoneNumber: string | null }>> {
      const data = await call(
        `${encodeURIComponent(businessAccountId)}/phone_numbers?fields=id,display_phone_number,verified_name&limit=100`,
        { method: 'GET', headers: { authorization: `Bearer ${options.accessToken}` } },
      )
      const rows = Array.isArray(data['data']) ? (data['data'] as unknown[]) : []
      return rows.flatMap((row) => {
        if (typeof row !== 'object' || row === null) return []
        const record = row as Record<string, unknown>
        if (typeof record['id'] !== 'string') return []
        const display = record['display_phone_number']
        return [{ id: record['id'], displayPhoneNumber: typeof display === 'string' ? display : null }]
      })
    },

    async sendText(input: { phoneNumberId: string; to: string; text: string; previewUrl?: boolean; replyTo?: string }) {
      if (input.text.length > 4096) throw new RangeError('WhatsApp text is limited to 4096 characters; split it first')
      return send(
        input.phoneNumberId,
        input.to,
        { type: 'text', text: { body: input.text, preview_url: input.previewUrl ?? false } },
        input.replyTo,
      )
    },

    /** Up to three reply buttons under a body text (confirm / cancel, "talk to a human"). */
    async sendButtons(input: {
      phoneNumberId: string
      to: string
      body: string
      buttons: ReplyButton[]
      header?: string
      footer?: string
      replyTo?: string
    }) {
      if (input.buttons.length < 1 || input.buttons.length > 3)
        throw new RangeError('WhatsApp allows 1 to 3 reply buttons')
      if (input.body.length > 1024) throw new RangeError('WhatsApp interactive body is limited to 1024 characters')
      for (const button of input.buttons) {
        if (!button.title || button.title.length > 20)
          throw new RangeError('WhatsApp button titles are 1 to 20 characters')
        if (!button.id || button.id.length > 256) throw new RangeError('WhatsApp button ids are 1 to 256 characters')
      }
      const interactive: Record<string, unknown> = {
        type: 'button',
        body: { text: input.body },
        action: { buttons: input.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) },
      }
      if (input.header) interactive['header'] = { type: 'text', text: input.header }
      if (input.footer) interactive['footer'] = { text: input.footer }
      return send(input.phoneNumberId, input.to, { type: 'interactive', interactive }, input.replyTo)
    },

    /** An approved template: the only thing that may be sent outside the 24-hour window. */
    async sendTemplate(input: { phoneNumberId: string; to: string; template: TemplateMessage }) {
      const { name, languageCode, components } = input.template
      return send(input.phoneNumberId, input.to, {
        type: 'template',
        template: { name, language: { code: languageCode }, ...(components?.length ? { components } : {}) },
      })
    },

    /** Blue ticks on the customer's message; optionally a typing indicator while the agent works. */
    async markAsRead(input: { phoneNumberId: string; messageId: string; showTyping?: boolean }): Promise<void> {
      await post(input.phoneNumberId, {
        status: 'read',
        message_id: input.messageId,
        ...(input.showTyping ? { typing_indicator: { type: 'text' } } : {}),
      })
    },
  }
}

export type WhatsAppClient = ReturnType<typeof createWhatsAppClient>
