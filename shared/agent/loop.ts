// One agent turn: from the assembled context to a reply, running tools the
// model asks for along the way. The edge function around it claims the job,
// builds the context and the tool registry, calls runAgentTurn, then records
// and delivers what it returns.
//
// Order of decisions:
//   1. the user asked for a human, or an escalation rule matched → hand off,
//      without calling the model (works when the model is down or absent);
//   2. no model configured → the honest offline answer;
//   3. up to `maxSteps` model calls; tool calls between them. On the last
//      step tools are withheld (tool_choice 'none') so the turn ends in words.
//   A tool call the registry doesn't have, or with invalid arguments, is
//   answered with an error the model can read and correct — never run.
//   A side-effecting call stops the turn with a pending confirmation; the
//   worker asks the user and calls runAgentTurn again with `resume`.
//   A tool that escalates stops the turn with the escalation.
//   A reply written after reading web results carries their links: when the
//   model cites none of them, the first few are appended as its sources.
//
// Model failures (after the fallback) throw AgentTurnFailed carrying what
// was spent so far, so the worker can meter it and retry through the queue.

import type { ChatMessage, ToolCallRequest } from './chat.ts'
import { escalationForMessage, type Escalation, type EscalationRule } from './handoff.ts'
import { ModelCallFailed, type ChatCompletionResult, type ModelClient, type ModelTarget, type Usage } from './model.ts'
import { answerOffline } from './offline.ts'
import { costOfCall, type PriceTable } from './pricing.ts'
import type { KnowledgePassage } from './context.ts'
import { DEFAULT_TOOL_TIMEOUT_MS, type ToolRegistry } from './tools/registry.ts'

export interface ModelCallLog {
  model: string
  usage: Usage
  costUsd: number
  latencyMs: number
  finishReason: string | null
  usedFallback: boolean
  attempts: ChatCompletionResult['attempts']
}

export type ToolCallOutcome =
  | 'ok'
  | 'error'
  | 'timeout'
  | 'unknown_tool'
  | 'invalid_arguments'
  | 'pending_confirmation'
  | 'cancelled_by_user'
  | 'escalated'

export interface ToolCallLog {
  id: string
  name: string
  /** As the model sent them (raw JSON text), for the audit log. */
  arguments: string
  outcome: ToolCallOutcome
  /** What the model was told (truncated for the log). */
  result: string
}

export interface PendingConfirmation {
  toolCallId: string
  toolName: string
  /** Raw JSON text, re-validated against the current settings on resume. */
  arguments: string
  /** Human-readable, for the confirm/cancel prompt. */
  summary: string
}

export interface AgentTurnResult {
  mode: 'model' | 'offline' | 'escalated' | 'awaiting_confirmation'
  reply: string
  toolCalls: ToolCallLog[]
  modelCalls: ModelCallLog[]
  escalation: Escalation | null
  pendingConfirmation: PendingConfirmation | null
}

export interface AgentTurnInput {
  /** From assembleContext: system prompt, history, the message being answered. */
  messages: readonly ChatMessage[]
  /** The contact's message being answered, for the pre-model checks; null when resuming or proactive. */
  latestContactText: string | null
  tools: ToolRegistry
  /** null when no model is configured at all → offline mode. */
  model: { client: ModelClient; target: ModelTarget } | null
  /** The passages the context was built with; offline mode quotes from them. */
  knowledge?: readonly KnowledgePassage[]
  escalationRules?: readonly EscalationRule[]
  maxSteps?: number
  modelTimeoutMs?: number
  toolTimeoutMs?: number
  prices?: PriceTable
  temperature?: number
  maxOutputTokens?: number
  signal?: AbortSignal
  onTextDelta?: (text: string) => void
  onRestart?: () => void
  /** Continue after the user answered a pending confirmation. */
  resume?: { pending: PendingConfirmation; approved: boolean }
}

export class AgentTurnFailed extends Error {
  constructor(
    readonly failure: ModelCallFailed,
    readonly modelCalls: ModelCallLog[],
    readonly toolCalls: ToolCallLog[],
  ) {
    super(failure.message, { cause: failure })
    this.name = 'AgentTurnFailed'
  }
}

export const DEFAULT_MAX_STEPS = 4
export const HANDOFF_REPLY =
  "I'm bringing in a human colleague to help with this. They'll reply here as soon as they can."
const FALLBACK_REPLY = "Sorry, I couldn't put an answer together just now. Please try again, or ask to talk to a human."
const LOG_RESULT_CHARS = 2_000

function toolMessage(callId: string, content: string): ChatMessage {
  return { role: 'tool', tool_call_id: callId, content }
}

function errorContent(error: string): string {
  return JSON.stringify({ error })
}

export async function runAgentTurn(input: AgentTurnInput): Promise<AgentTurnResult> {
  const toolCalls: ToolCallLog[] = []
  const modelCalls: ModelCallLog[] = []
  const readFrom: string[] = []
  const citations: { title: string; url: string }[] = []
  const messages: ChatMessage[] = [...input.messages]
  const toolTimeoutMs = input.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS
  const result = (partial: Pick<AgentTurnResult, 'mode' | 'reply'> & Partial<AgentTurnResult>): AgentTurnResult => ({
    escalation: null,
    pendingConfirmation: null,
    ...partial,
    toolCalls,
    modelCalls,
  })
  const log = (call: ToolCallRequest, outcome: ToolCallOutcome, content: string) =>
    toolCalls.push({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      outcome,
      result: content.slice(0, LOG_RESULT_CHARS),
    })

  // 1. Hand-off requests are honoured before anything else.
  if (input.latestContactText !== null && !input.resume) {
    const escalation = escalationForMessage(input.latestContactText, input.escalationRules)
    if (escalation) return result({ mode: 'escalated', reply: HANDOFF_REPLY, escalation })
  }

  // Resuming: run (or cancel) the confirmed call, re-checked against today's registry.
  if (input.resume) {
    const { pending, approved } = input.resume
    const call: ToolCallRequest = {
      id: pending.toolCallId,
      type: 'function',
      function: { name: pending.toolName, arguments: pending.arguments },
    }
    messages.push({ role: 'assistant', content: null, tool_calls: [call] })
    const prepared = input.tools.prepare(call)
    let content: string
    if (!prepared.ok) {
      content = errorContent(prepared.error)
      log(call, prepared.outcome, content)
    } else if (!approved) {
      content = errorContent('The user cancelled this action. Do not retry it unless they ask again.')
      log(call, 'cancelled_by_user', content)
    } else {
      const run = await input.tools.run(prepared, toolTimeoutMs, input.signal)
      content = run.content
      log(call, run.outcome, content)
    }
    messages.push(toolMessage(call.id, content))
    if (!input.model) {
      return result({
        mode: 'offline',
        reply: approved && prepared.ok ? `Done: ${prepared.summary}.` : 'Okay, I cancelled that.',
      })
    }
  }

  // 2. No model anywhere: the honest offline answer.
  if (!input.model) {
    const answer = answerOffline(input.latestContactText ?? '', input.knowledge ?? [])
    return result({ mode: 'offline', reply: answer.text })
  }

  // 3. Model ↔ tools.
  const { client, target } = input.model
  const specs = input.tools.specs()
  const maxSteps = Math.max(1, input.maxSteps ?? DEFAULT_MAX_STEPS)
  for (let step = 0; step < maxSteps; step++) {
    const lastStep = step === maxSteps - 1
    let completion: ChatCompletionResult
    try {
      completion = await client.complete(
        target,
        {
          messages,
          tools: specs.length ? specs : undefined,
          toolChoice: lastStep ? 'none' : 'auto',
          temperature: input.temperature,
          maxOutputTokens: input.maxOutputTokens,
        },
        {
          timeoutMs: input.modelTimeoutMs,
          signal: input.signal,
          onTextDelta: input.onTextDelta,
          onRestart: input.onRestart,
        },
      )
    } catch (error) {
      if (error instanceof ModelCallFailed) throw new AgentTurnFailed(error, modelCalls, toolCalls)
      throw error
    }
    modelCalls.push({
      model: completion.model,
      usage: completion.usage,
      costUsd: costOfCall(completion.model, completion.usage, input.prices),
      latencyMs: completion.latencyMs,
      finishReason: completion.finishReason,
      usedFallback: completion.usedFallback,
      attempts: completion.attempts,
    })

    if (completion.toolCalls.length === 0 || lastStep) {
      const reply = completion.content.trim()
      return result({ mode: 'model', reply: reply ? withSources(reply, citations) : FALLBACK_REPLY })
    }

    messages.push({ role: 'assistant', content: completion.content || null, tool_calls: completion.toolCalls })
    // Text read from elsewhere this turn: a confirmation asked after it says so.
    for (const call of completion.toolCalls) {
      const prepared = input.tools.prepare(call)
      if (!prepared.ok) {
        const content = errorContent(prepared.error)
        log(call, prepared.outcome, content)
        messages.push(toolMessage(call.id, content))
        continue
      }
      if (prepared.sideEffecting) {
        // Stop here; the rest of this step's calls are dropped and redone after the answer.
        const pendingConfirmation: PendingConfirmation = {
          toolCallId: call.id,
          toolName: call.function.name,
          arguments: call.function.arguments,
          summary: prepared.summary,
        }
        log(call, 'pending_confirmation', '')
        const ask = confirmationQuestion(prepared.summary, readFrom)
        const said = completion.content.trim()
        return result({
          mode: 'awaiting_confirmation',
          reply: said ? `${said}\n\n${ask}` : ask,
          pendingConfirmation,
        })
      }
      const run = await input.tools.run(prepared, toolTimeoutMs, input.signal)
      if (run.escalation) {
        log(call, 'escalated', run.content)
        return result({
          mode: 'escalated',
          reply: completion.content.trim() || HANDOFF_REPLY,
          escalation: { source: 'model', reason: run.escalation.reason },
        })
      }
      log(call, run.outcome, run.content)
      for (const cite of run.citations ?? []) if (!citations.some((c) => c.url === cite.url)) citations.push(cite)
      const source = prepared.tool.describeSource?.(prepared.args)
      if (source && !readFrom.includes(source)) readFrom.push(source)
      messages.push(toolMessage(call.id, run.content))
    }
  }
  /* c8 ignore next */
  return result({ mode: 'model', reply: FALLBACK_REPLY })
}

const MAX_APPENDED_SOURCES = 3

/**
 * A reply that used web results names where they came from: if the model cited none of
 * the pages it read, the first few are listed after the reply, so no web fact arrives
 * without its link.
 */
export function withSources(reply: string, citations: readonly { title: string; url: string }[]): string {
  if (citations.length === 0 || citations.some((c) => reply.includes(c.url))) return reply
  const lines = citations.slice(0, MAX_APPENDED_SOURCES).map((c) => `- ${c.title}: ${c.url}`)
  return `${reply}\n\nSources:\n${lines.join('\n')}`
}

/**
 * What a person is asked before a side-effecting tool runs: what will be done and, when
 * the agent read text from elsewhere first (a fetched page, a knowledge passage), where
 * that text came from: a request planted in it must not pass as the person's own.
 */
export function confirmationQuestion(summary: string, readFrom: readonly string[]): string {
  const ask = `Before I continue: may I ${summary}?`
  if (readFrom.length === 0) return ask
  return `${ask}\n(I'm asking after reading ${readFrom.join(' and ')}, not only your message: say yes only if this is what you want.)`
}
