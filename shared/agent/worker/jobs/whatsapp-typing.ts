// WhatsApp's typing indicator while a team member writes a reply: the customer's newest
// message is marked read with `typing_indicator`, which WhatsApp shows for up to 25
// seconds or until the reply arrives. api.signal_typing queues at most one job per
// conversation every 20 seconds. Typing is ephemeral: a job older than the indicator's
// 25 seconds is dropped, and a failed call is not retried (the next keystrokes queue another).

import { z } from 'zod'
import { markWhatsAppRead } from '../../../channels/delivery/whatsapp.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind } from '../executor.ts'

/** How long WhatsApp shows the indicator; a job older than this would show nothing useful. */
export const WHATSAPP_TYPING_MS = 25_000

export const whatsAppTypingJobSchema = z.object({
  kind: z.literal('whatsapp_typing'),
  tenant_id: z.string().uuid(),
  conversation_id: z.string().uuid(),
  connection_id: z.string().uuid(),
  phone_number_id: z.string().min(1),
  message_external_id: z.string().min(1),
  signalled_at: z.string().datetime({ offset: true }),
})

export function whatsAppTypingJob(ctx: WorkerContext): JobKind<z.infer<typeof whatsAppTypingJobSchema>> {
  return {
    schema: whatsAppTypingJobSchema,
    async run(job) {
      if (ctx.now() - Date.parse(job.signalled_at) > WHATSAPP_TYPING_MS) return 'stale'
      const token = await ctx.store.getChannelToken(job.connection_id)
      if (!token) return 'no_token'
      const shown = await markWhatsAppRead({
        whatsapp: {
          accessToken: token,
          apiUrl: ctx.config.whatsappApiUrl,
          apiVersion: ctx.config.whatsappApiVersion,
          fetch: ctx.fetch,
        },
        phoneNumberId: job.phone_number_id,
        messageId: job.message_external_id,
        showTyping: true,
      })
      return shown ? 'shown' : 'not_shown'
    },
  }
}
