// slack-interactions: see shared/channels/handlers/slack-interactions.ts. Configuration is read once at start and
// a missing secret stops the function with "<NAME> is not set".
import {
  slackInteractionsConfigFromEnv,
  createSlackInteractionsHandler,
} from '../../shared/channels/handlers/slack-interactions.ts'

Deno.serve(createSlackInteractionsHandler(slackInteractionsConfigFromEnv(Deno.env.toObject())))
