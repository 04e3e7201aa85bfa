// Fixed development secrets of the local stack, printed by `npm run env` the way the
// Supabase CLI prints its fixed local keys. Public on purpose: they sign nothing that
// leaves this machine. A deployed project sets its own (docs/DEPLOY.md).

/** Signs the database's wake-ups of agent-worker and stripe-meter (Vault konstruct_worker_secret). */
export const DEV_WORKER_SECRET = 'konstruct-local-worker-secret-do-not-use-in-production'

/** What the channel and billing functions need to accept the README's example requests. */
export const DEV_CHANNEL_SECRETS: Record<string, string> = {
  SLACK_SIGNING_SECRET: 'konstruct-local-slack-signing-secret',
  WHATSAPP_APP_SECRET: 'konstruct-local-whatsapp-app-secret',
  WHATSAPP_VERIFY_TOKEN: 'konstruct-local-whatsapp-verify-token',
  STRIPE_WEBHOOK_SECRET: 'whsec_konstruct_local_stripe_webhook_secret',
}
