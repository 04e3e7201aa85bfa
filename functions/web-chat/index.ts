// web-chat: see shared/channels/handlers/web-chat.ts. Configuration is read once at start and
// a missing secret stops the function with "<NAME> is not set".
import { webChatConfigFromEnv, createWebChatHandler } from '../../shared/channels/handlers/web-chat.ts'

Deno.serve(createWebChatHandler(webChatConfigFromEnv(Deno.env.toObject())))
