// Proof of control for a WhatsApp connection: the connection's own token must see its
// phone number among the numbers of the business account it names (Graph
// GET /<waba-id>/phone_numbers). Until api.confirm_whatsapp_channel records that, the
// webhook routes nothing to the connection, and an unproven claim holds no number.

import { z } from 'zod'
import { createWhatsAppClient, WhatsAppApiError } from '../../../channels/whatsapp/cloud-api.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind } from '../executor.ts'

export const verifyWhatsAppChannelJobSchema = z.object({
  kind: z.literal('verify_whatsapp_channel'),
  tenant_id: z.string().uuid(),
  connection_id: z.string().uuid(),
  phone_number_id: z.string().min(1),
  business_account_id: z.string().min(1),
})
export type WhatsAppProofJob = Omit<z.infer<typeof verifyWhatsAppChannelJobSchema>, 'kind'>

export interface WhatsAppProofDeps {
  getChannelToken(connectionId: string): Promise<string | null>
  confirm(input: {
    connectionId: string
    phoneNumberIds: string[]
    error: string | null
    displayPhoneNumber: string | null
  }): Promise<{ verified: boolean; reason?: string }>
  whatsappApiUrl?: string
  whatsappApiVersion?: string
  fetch?: typeof fetch
}

export async function proveWhatsAppControl(job: WhatsAppProofJob, deps: WhatsAppProofDeps): Promise<string> {
  const token = await deps.getChannelToken(job.connection_id)
  if (!token) {
    await deps.confirm({
      connectionId: job.connection_id,
      phoneNumberIds: [],
      error: 'The connection has no access token.',
      displayPhoneNumber: null,
    })
    return 'unproven:no_token'
  }
  const whatsapp = createWhatsAppClient({
    accessToken: token,
    apiUrl: deps.whatsappApiUrl,
    apiVersion: deps.whatsappApiVersion,
    fetch: deps.fetch,
  })
  let numbers: Array<{ id: string; displayPhoneNumber: string | null }>
  try {
    numbers = await whatsapp.listBusinessPhoneNumbers(job.business_account_id)
  } catch (error) {
    // Meta answering "no such object / no permission" is a verdict; anything else (network,
    // 5xx, throttling) is retried by the queue.
    if (error instanceof WhatsAppApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
      await deps.confirm({
        connectionId: job.connection_id,
        phoneNumberIds: [],
        error: 'The access token cannot see that WhatsApp Business Account; check the account id and the token.',
        displayPhoneNumber: null,
      })
      return 'unproven:account_not_visible'
    }
    throw error
  }
  const mine = numbers.find((number) => number.id === job.phone_number_id)
  const result = await deps.confirm({
    connectionId: job.connection_id,
    phoneNumberIds: numbers.map((number) => number.id),
    error: null,
    displayPhoneNumber: mine?.displayPhoneNumber ?? null,
  })
  return result.verified ? 'proven' : `unproven:${result.reason ?? 'not_controlled'}`
}

export function verifyWhatsAppChannelJob(ctx: WorkerContext): JobKind<z.infer<typeof verifyWhatsAppChannelJobSchema>> {
  return {
    schema: verifyWhatsAppChannelJobSchema,
    run: (job) =>
      proveWhatsAppControl(job, {
        getChannelToken: (connectionId) => ctx.store.getChannelToken(connectionId),
        confirm: (input) => ctx.store.confirmWhatsAppChannel(input),
        whatsappApiUrl: ctx.config.whatsappApiUrl,
        whatsappApiVersion: ctx.config.whatsappApiVersion,
        fetch: ctx.fetch,
      }),
  }
}
