// The Slack channel adapter: what the slack-events, slack-oauth and slack-interactions
// functions and the agent worker import.
export * from './verify-request.ts'
export * from './retries.ts'
export * from './events.ts'
export * from './interactions.ts'
export * from './mrkdwn.ts'
export * from './web-api.ts'
export * from './oauth.ts'
