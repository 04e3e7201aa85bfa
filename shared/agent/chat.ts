// The OpenAI-compatible chat message shapes the agent core speaks. Kept to
// the fields every compatible server (OpenAI, Ollama, vLLM, LiteLLM) accepts; the
// model client (model.ts) sends them as the `openai` SDK's request type, so a shape
// here that the API does not take fails the type check.

import type OpenAI from 'openai'

/** A function call the model asks for, as the SDK types it. */
export type ToolCallRequest = OpenAI.ChatCompletionMessageFunctionToolCall

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCallRequest[] }
  | { role: 'tool'; tool_call_id: string; content: string }

/** A tool as the model sees it (the `tools` array of a chat completion request). */
export interface ToolSpec {
  type: 'function'
  function: { name: string; description: string; parameters: Record<string, unknown> }
}
