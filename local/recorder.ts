// The local stack's stand-in for the Slack Web API and the WhatsApp Cloud API, so the
// demo's replies stay on this machine: `npm start` points SLACK_API_URL and
// WHATSAPP_API_URL here unless given. It answers like those services, keeps what was
// sent (GET /recorder/v1/messages lists it, newest last) and prints each message in the
// log. Development only; tests use their own fakes (tests/fakes).
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody, sendJson, type StackContext } from './http.ts'

export const RECORDER_PATH = '/recorder/v1'

export interface RecordedMessage {
  channel: 'slack' | 'whatsapp'
  /** Slack Web API method, or the WhatsApp message type. */
  method: string
  /** Slack channel id, or the WhatsApp recipient. */
  to: string
  text: string
  at: string
}

const keep = 500

export class Recorder {
  readonly messages: RecordedMessage[] = []
  private ts = 0

  constructor(private readonly log: (line: string) => void) {}

  /** SLACK_API_URL and WHATSAPP_API_URL for the functions, under the stack's URL. */
  static env(stackUrl: string): Record<string, string> {
    return {
      SLACK_API_URL: `${stackUrl}${RECORDER_PATH}/slack/api`,
      WHATSAPP_API_URL: `${stackUrl}${RECORDER_PATH}/whatsapp`,
    }
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse, url: URL, _ctx: StackContext): Promise<void> => {
    const path = url.pathname.slice(RECORDER_PATH.length)
    if (req.method === 'GET' && path === '/messages') return sendJson(res, 200, this.messages)
    const text = (await readBody(req)).toString('utf8')
    const body = parseBody(text, req.headers['content-type'])
    const slack = /^\/slack\/api\/([\w.]+)$/.exec(path)
    if (req.method === 'POST' && slack) return sendJson(res, 200, this.slack(slack[1]!, body))
    if (req.method === 'POST' && /^\/whatsapp\/v[\d.]+\/[^/]+\/messages$/.test(path)) {
      return sendJson(res, 200, this.whatsapp(body))
    }
    sendJson(res, 404, { ok: false, error: 'unknown_method' })
  }

  private record(message: Omit<RecordedMessage, 'at'>): void {
    this.messages.push({ ...message, at: new Date().toISOString() })
    if (this.messages.length > keep) this.messages.shift()
    this.log(`recorder: ${message.channel} ${message.method} to ${message.to}: ${message.text}`)
  }

  private slack(method: string, body: Record<string, unknown>): Record<string, unknown> {
    const channel = String(body['channel'] ?? '')
    const text = String(body['text'] ?? '')
    switch (method) {
      case 'chat.postMessage':
      case 'chat.update': {
        const ts = method === 'chat.update' ? String(body['ts'] ?? '') : this.nextTs()
        this.record({ channel: 'slack', method, to: channel, text })
        return { ok: true, channel, ts, message: { text, ts } }
      }
      case 'conversations.open':
        return {
          ok: true,
          channel: {
            id: `D${String(body['users'] ?? 'LOCAL')
              .replace(/\W/g, '')
              .slice(0, 10)}`,
          },
        }
      default:
        return { ok: true }
    }
  }

  private whatsapp(body: Record<string, unknown>): Record<string, unknown> {
    if (body['status'] === 'read') return { success: true }
    const to = String(body['to'] ?? '')
    const type = String(body['type'] ?? 'text')
    const part = body[type] as Record<string, unknown> | undefined
    // text.body, interactive.body.text, or a template's name
    const inner = part?.['body']
    const text =
      typeof inner === 'string'
        ? inner
        : typeof (inner as { text?: unknown } | undefined)?.text === 'string'
          ? (inner as { text: string }).text
          : String(part?.['name'] ?? '')
    this.record({ channel: 'whatsapp', method: type, to, text })
    return {
      messaging_product: 'whatsapp',
      contacts: [{ input: to, wa_id: to }],
      messages: [{ id: `wamid.${randomBytes(18).toString('base64url')}` }],
    }
  }

  private nextTs(): string {
    this.ts += 1
    return `${Math.floor(Date.now() / 1000)}.${String(this.ts).padStart(6, '0')}`
  }
}

function parseBody(text: string, contentType: string | undefined): Record<string, unknown> {
  try {
    if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text))
    const parsed: unknown = JSON.parse(text || '{}')
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}
