// What every job module receives instead of a shared closure: the store, the settings,
// the channel senders, the model client, the plan's gate, and the outside world
// (fetch, DNS, clock, log). Built once per worker; tests hand in their own parts.

import type { ResolveHost } from '../../net/guarded-fetch.ts'
import { serviceApi } from '../../api/project.ts'
import { createModelClient, type EndpointGuard, type ModelClient } from '../model.ts'
import { tenantModelEndpointGuard } from '../model-endpoint.ts'
import type { AgentStore } from '../store.ts'
import type { WorkerConfig } from './config.ts'
import type { ReplyDeliveries } from './deliveries.ts'
import { createEntitlementGate, type EntitlementGate } from './entitlements.ts'

export interface AgentWorkerDeps {
  store: AgentStore
  config: WorkerConfig
  deliveries: ReplyDeliveries
  modelClient?: ModelClient
  /** The plan's say before a model call; by default the database's, over the api. */
  entitlements?: EntitlementGate
  fetch?: typeof fetch
  resolveHost?: ResolveHost
  now?: () => number
  log?: (line: string, detail?: unknown) => void
}

export interface WorkerContext {
  store: AgentStore
  config: WorkerConfig
  deliveries: ReplyDeliveries
  modelClient: ModelClient
  entitlements: EntitlementGate
  /** Checks a tenant's own model endpoint before anything is sent to it. */
  tenantEndpointGuard: EndpointGuard | null
  fetch: typeof fetch | undefined
  resolveHost: ResolveHost | undefined
  now: () => number
  log: (line: string, detail?: unknown) => void
}

export function createWorkerContext(deps: AgentWorkerDeps): WorkerContext {
  const { config } = deps
  return {
    store: deps.store,
    config,
    deliveries: deps.deliveries,
    modelClient: deps.modelClient ?? createModelClient({ fetch: deps.fetch }),
    entitlements: deps.entitlements ?? createEntitlementGate(serviceApi(config.project)),
    tenantEndpointGuard: tenantModelEndpointGuard({
      allowLocalEndpoints: config.allowLocalModelEndpoints,
      resolveHost: deps.resolveHost,
    }),
    fetch: deps.fetch,
    resolveHost: deps.resolveHost,
    now: deps.now ?? (() => Date.now()),
    log: deps.log ?? ((line: string, detail?: unknown) => console.log(line, detail ?? '')),
  }
}
