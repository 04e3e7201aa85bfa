// slack-oauth: see shared/channels/handlers/slack-oauth.ts. Configuration is read once at start and
// a missing secret stops the function with "<NAME> is not set".
import { slackOAuthConfigFromEnv, createSlackOAuthHandler } from '../../shared/channels/handlers/slack-oauth.ts'

Deno.serve(createSlackOAuthHandler(slackOAuthConfigFromEnv(Deno.env.toObject())))
