// The WhatsApp Cloud API channel adapter: what the whatsapp-webhook function and the agent
// worker import.
export * from './verify-webhook.ts'
export * from './webhook.ts'
export * from './cloud-api.ts'
export * from './service-window.ts'
export * from './format.ts'
