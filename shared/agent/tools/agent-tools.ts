// Builds one agent's tool registry from its stored settings. This is the only
// place tools are switched on, and it reads settings only — never the
// conversation, the knowledge base or a tool's output.

import type { ResolveHost } from '../../net/guarded-fetch.ts'
import { escalateToHumanTool } from './escalate-to-human.ts'
import { httpRequestTool, type HttpRequestSettings } from './http-request.ts'
import { knowledgeSearchTool, type SearchKnowledge } from './knowledge-search.ts'
import { createToolRegistry, type AgentTool, type ToolRegistry } from './registry.ts'
import { webSearchTool, type SearchWeb } from './web-search.ts'

export interface AgentToolSettings {
  /** On by default when a search function is available. */
  knowledgeSearch?: boolean
  /** Off unless configured with at least one allowed host. */
  httpRequest?: HttpRequestSettings | null
  /** On by default. */
  escalateToHuman?: boolean
  /** Off unless switched on, and then only when the platform configures a provider (deps.searchWeb). */
  webSearch?: boolean
}

export interface AgentToolDeps {
  searchKnowledge?: SearchKnowledge
  resolveHost?: ResolveHost
  fetch?: typeof fetch
  /** Present only when the environment configures a web search provider. */
  searchWeb?: SearchWeb
  /** Tenant-specific tools (e.g. side-effecting integrations) added by the caller. */
  extraTools?: readonly AgentTool[]
}

export function buildAgentTools(settings: AgentToolSettings, deps: AgentToolDeps): ToolRegistry {
  const tools: AgentTool[] = []
  if (settings.knowledgeSearch !== false && deps.searchKnowledge) tools.push(knowledgeSearchTool(deps.searchKnowledge))
  if (settings.httpRequest && settings.httpRequest.allowHosts.length > 0 && deps.resolveHost) {
    tools.push(httpRequestTool(settings.httpRequest, { resolveHost: deps.resolveHost, fetch: deps.fetch }))
  }
  if (settings.webSearch && deps.searchWeb) tools.push(webSearchTool(deps.searchWeb))
  if (settings.escalateToHuman !== false) tools.push(escalateToHumanTool())
  tools.push(...(deps.extraTools ?? []))
  return createToolRegistry(tools)
}
