// Proof of control for a WhatsApp connection: the connection's own token must see its
// phone number among the numbers of the business account it names (Graph
// GET /<waba-id>/phone_numbers). Until api.confirm_whatsapp_channel records that, the
// webhook routes nothing to the connection, and an unproven claim holds no number.

import { createWhatsAppClient, WhatsAppApiError } from '../channels/whatsapp/cloud-api.ts'

export interface WhatsAppProofJob {
  tenant_id: string
  connection_id: string
  phone_number_id: string
  business_account_id: string
}

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
