// The web chat channel adapter: what the web-chat function imports.
export * from './visitor-token.ts'
export * from './rate-limit.ts'
