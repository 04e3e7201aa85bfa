// slack-interactions: see shared/channels/functions/slack-interactions.ts. Configuration is read once at start and
// a missing secret stops the function with "<NAME> is not set".
import {
  slackInteractionsConfigFromEnv,
  createSlackInteractionsHandler,
} from '../../shared/channels/functions/slack-interactions.ts'

Deno.serve(createSlackInteractionsHandler(slackInteractionsConfigFromEnv(Deno.env.toObject())))
