// slack-events: see shared/channels/handlers/slack-events.ts. Configuration is read once at start and
// a missing secret stops the function with "<NAME> is not set".
import { slackEventsConfigFromEnv, createSlackEventsHandler } from '../../shared/channels/handlers/slack-events.ts'

Deno.serve(createSlackEventsHandler(slackEventsConfigFromEnv(Deno.env.toObject())))
