// The tools one agent may use in one turn. The registry is built from the
// agent's stored settings before the turn and frozen: nothing the model says
// and nothing a tool returns can add a tool or change a tool's limits.

import type { ToolCallRequest, ToolSpec } from '../chat.ts'
import {
  argumentJsonSchema,
  argumentSchema,
  checkArguments,
  type JsonObjectSchema,
  type ToolArguments,
} from './arguments.ts'

export interface ToolContext {
  signal: AbortSignal
}

export interface ToolOutcome {
  ok: boolean
  /** What the model reads back (data, never instructions). */
  content: string
  /** Set by a tool that hands the conversation to a human. */
  escalation?: { reason: string }
  /** Pages the content came from (web search results), for the reply to cite. */
  citations?: readonly { title: string; url: string }[]
}

// A registry holds tools of different argument types; each validates its own.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface AgentTool<Args = any> {
  name: string
  description: string
  /**
   * The arguments as a zod object; unknown keys are refused and nothing is
   * coerced. A plain JSON Schema object is accepted for tools defined as data.
   */
  parameters: ToolArguments | JsonObjectSchema
  /** Side-effecting calls wait for the user's confirmation instead of running. */
  sideEffecting?: boolean | ((args: Args) => boolean)
  /** One line for the confirmation prompt, e.g. "send a POST to api.example.com". */
  describeCall?: (args: Args) => string
  /**
   * For a tool whose result is text someone else wrote (a fetched page, a knowledge
   * passage): where it came from, e.g. "the page at api.example.com". A confirmation
   * asked after reading such text names it, so the person sees the request may not be theirs.
   */
  describeSource?: (args: Args) => string
  execute(args: Args, context: ToolContext): Promise<ToolOutcome>
}

export type PreparedToolCall =
  | {
      ok: true
      call: ToolCallRequest
      tool: AgentTool
      args: Record<string, unknown>
      sideEffecting: boolean
      summary: string
    }
  | { ok: false; call: ToolCallRequest; outcome: 'unknown_tool' | 'invalid_arguments'; error: string }

export interface ToolRegistry {
  readonly names: readonly string[]
  specs(): ToolSpec[]
  prepare(call: ToolCallRequest): PreparedToolCall
  /** Runs a prepared call with a deadline; a tool that hangs yields a timeout outcome. */
  run(
    prepared: Extract<PreparedToolCall, { ok: true }>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ToolRunResult>
}

export type ToolRunResult = ToolOutcome & { outcome: 'ok' | 'error' | 'timeout' }

interface RegisteredTool {
  tool: AgentTool
  /** Strict zod object the arguments are validated with. */
  schema: ToolArguments
  /** What the model is shown as the tool's parameters. */
  jsonSchema: Record<string, unknown>
}

export const DEFAULT_TOOL_TIMEOUT_MS = 15_000
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/

export function createToolRegistry(tools: readonly AgentTool[]): ToolRegistry {
  const byName = new Map<string, RegisteredTool>()
  for (const tool of tools) {
    if (!TOOL_NAME.test(tool.name)) throw new Error(`invalid tool name ${tool.name}`)
    if (byName.has(tool.name)) throw new Error(`duplicate tool ${tool.name}`)
    const schema = argumentSchema(tool.parameters)
    const jsonSchema = argumentJsonSchema(schema)
    byName.set(tool.name, Object.freeze({ tool: Object.freeze({ ...tool }), schema, jsonSchema }))
  }
  const names = Object.freeze([...byName.keys()])

  const registry: ToolRegistry = {
    names,
    specs: () =>
      [...byName.values()].map(({ tool, jsonSchema }) => ({
        type: 'function' as const,
        function: {
          name: tool.name,
          description: tool.description,
          parameters: structuredClone(jsonSchema),
        },
      })),
    prepare(call: ToolCallRequest): PreparedToolCall {
      const registered = byName.get(call.function.name)
      if (!registered)
        return { ok: false, call, outcome: 'unknown_tool', error: `no tool named ${call.function.name} is available` }
      let parsed: unknown
      try {
        parsed = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments)
      } catch {
        return { ok: false, call, outcome: 'invalid_arguments', error: 'arguments are not valid JSON' }
      }
      const { tool, schema } = registered
      const check = checkArguments<Record<string, unknown>>(schema, parsed)
      if (!check.ok) return { ok: false, call, outcome: 'invalid_arguments', error: check.errors.join('; ') }
      const sideEffecting =
        typeof tool.sideEffecting === 'function' ? tool.sideEffecting(check.value) : Boolean(tool.sideEffecting)
      const summary = tool.describeCall?.(check.value) ?? `use ${tool.name}`
      return { ok: true, call, tool, args: check.value, sideEffecting, summary }
    },
    async run(prepared, timeoutMs, signal) {
      const controller = new AbortController()
      const onOuterAbort = () => controller.abort()
      signal?.addEventListener('abort', onOuterAbort, { once: true })
      let timer: ReturnType<typeof setTimeout> | undefined
      const deadline = new Promise<ToolRunResult>((resolve) => {
        timer = setTimeout(() => {
          controller.abort()
          resolve({ ok: false, outcome: 'timeout', content: `the tool did not finish within ${timeoutMs} ms` })
        }, timeoutMs)
      })
      const work = prepared.tool
        .execute(prepared.args, { signal: controller.signal })
        .then((outcome: ToolOutcome): ToolRunResult => ({ ...outcome, outcome: outcome.ok ? 'ok' : 'error' }))
        .catch((): ToolRunResult => ({ ok: false, outcome: 'error', content: 'the tool failed' }))
      try {
        return await Promise.race([work, deadline])
      } finally {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onOuterAbort)
      }
    },
  }
  return Object.freeze(registry)
}
