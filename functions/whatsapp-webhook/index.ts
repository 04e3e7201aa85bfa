// whatsapp-webhook: see shared/channels/handlers/whatsapp-webhook.ts. Configuration is read once at start and
// a missing secret stops the function with "<NAME> is not set".
import {
  whatsAppWebhookConfigFromEnv,
  createWhatsAppWebhookHandler,
} from '../../shared/channels/handlers/whatsapp-webhook.ts'

Deno.serve(createWhatsAppWebhookHandler(whatsAppWebhookConfigFromEnv(Deno.env.toObject())))
