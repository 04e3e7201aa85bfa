// The whatsapp_typing job against the fake Cloud API: the customer's message is marked read
// with the typing indicator; a job older than the indicator's 25 seconds, or a connection
// without a token, sends nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeWhatsApp, type FakeWhatsApp } from '../../fakes/fake-whatsapp.ts'
import { whatsAppTypingJob, WHATSAPP_TYPING_MS } from '../../../shared/agent/worker/jobs/whatsapp-typing.ts'
import type { WorkerContext } from '../../../shared/agent/worker/context.ts'

let wa: FakeWhatsApp
beforeAll(async () => {
  wa = await startFakeWhatsApp({ accessToken: 'EAAG-typing' })
})
afterAll(() => wa?.close())

const NOW = Date.parse('2026-12-06T12:00:00Z')
function job(messageId: string, ageMs: number) {
  return {
    kind: 'whatsapp_typing' as const,
    tenant_id: '10000000-0000-4000-8000-000000000001',
    conversation_id: '40000000-0000-4000-8000-000000000001',
    connection_id: '30000000-0000-4000-8000-000000000003',
    phone_number_id: 'PN-typing',
    message_external_id: messageId,
    signalled_at: new Date(NOW - ageMs).toISOString(),
  }
}
function kind(token: string | null) {
  const ctx = {
    now: () => NOW,
    store: { getChannelToken: async () => token },
    config: { whatsappApiUrl: wa.url, whatsappApiVersion: 'v21.0' },
    fetch: globalThis.fetch,
  } as unknown as WorkerContext
  return whatsAppTypingJob(ctx)
}
const run = (k: ReturnType<typeof kind>, j: ReturnType<typeof job>) => k.run(k.schema.parse(j), { attempt: 1 } as never)

describe('whatsapp_typing job', () => {
  it("shows the typing indicator on the customer's message", async () => {
    expect(await run(kind('EAAG-typing'), job('wamid.fresh', 1000))).toBe('shown')
    expect(wa.typingIndicators).toEqual([{ phoneNumberId: 'PN-typing', messageId: 'wamid.fresh' }])
  })

  it('drops a job older than the indicator would last, and one without a token', async () => {
    expect(await run(kind('EAAG-typing'), job('wamid.stale', WHATSAPP_TYPING_MS + 1))).toBe('stale')
    expect(await run(kind(null), job('wamid.no-token', 0))).toBe('no_token')
    expect(wa.typingIndicators.map((t) => t.messageId)).toEqual(['wamid.fresh'])
  })

  it('a refused call is reported, not retried', async () => {
    expect(await run(kind('EAAG-wrong'), job('wamid.refused', 0))).toBe('not_shown')
    expect(wa.typingIndicators.map((t) => t.messageId)).toEqual(['wamid.fresh'])
  })
})
