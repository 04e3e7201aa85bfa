// What the guarded client does against the servers of tests/unit/net/pinned-fetch.test.ts,
// run once in the test's Node process and once under Deno (egress-probe.ts), since the
// edge functions run the same code there.
//
// 127.0.0.2 stands in for a public address (blockedAddress lets it through); 127.0.0.1 is
// the platform's inside, which must never be reached.
import { createModelClient } from '../../shared/agent/model.ts'
import { tenantModelEndpointGuard } from '../../shared/agent/model-endpoint.ts'
import { GuardedFetchError, guardedFetch, type ResolveHost } from '../../shared/net/guarded-fetch.ts'
import { blockedAddressReason } from '../../shared/net/ip-address.ts'

export const STAND_IN_PUBLIC = '127.0.0.2'

export interface EgressScenarioParams {
  /** Port of the stand-in public server (127.0.0.2) and of the inside one (127.0.0.1). */
  port: number
  /** Port of the TLS server on 127.0.0.2, whose certificate names model.test only. */
  tlsPort: number
  /** PEM of the CA that signed model.test's certificate. */
  ca: string
}

export interface EgressScenarioResults {
  rebinding: { status: number; body: string } | { refused: string }
  rebindingRedirect: { status: number; body: string } | { refused: string }
  redirectOk: { status: number; body: string; redirects: string[] } | { refused: string }
  tlsNamed: { status: number; body: string } | { refused: string }
  tlsImpostor: { status: number; body: string } | { refused: string }
  tlsUntrusted: { status: number; body: string } | { refused: string }
  streamed: { content: string; deltas: string[] } | { failed: string }
  lookups: Record<string, number>
}

const blockedAddress = (address: string) => (address === STAND_IN_PUBLIC ? null : blockedAddressReason(address))

/** A resolver whose answers for a name come from a list, one per question, the last repeating. */
function scriptedResolver(script: Record<string, string[][]>, lookups: Record<string, number>): ResolveHost {
  return async (host) => {
    const answers = script[host]
    if (!answers) throw new Error(`NXDOMAIN ${host}`)
    const asked = lookups[host] ?? 0
    lookups[host] = asked + 1
    return answers[Math.min(asked, answers.length - 1)]!
  }
}

async function outcome(
  work: Promise<{ status: number; text(): string; redirects: string[] }>,
  withRedirects = false,
): Promise<{ status: number; body: string; redirects?: string[] } | { refused: string }> {
  try {
    const response = await work
    return withRedirects
      ? { status: response.status, body: response.text(), redirects: response.redirects }
      : { status: response.status, body: response.text() }
  } catch (error) {
    if (error instanceof GuardedFetchError) return { refused: error.code }
    throw error
  }
}

export async function runEgressScenarios(params: EgressScenarioParams): Promise<EgressScenarioResults> {
  const lookups: Record<string, number> = {}
  // A rebinding name: public to the first question, the inside to every later one.
  const rebind = [[STAND_IN_PUBLIC], ['127.0.0.1']]
  const base = { allowHosts: ['*'], allowPorts: 'any' as const, blockedAddress, timeoutMs: 5_000 }

  const rebinding = await outcome(
    guardedFetch(
      `http://localhost:${params.port}/hello`,
      {},
      {
        ...base,
        resolveHost: scriptedResolver({ localhost: rebind }, lookups),
      },
    ),
  )
  const rebindingRedirect = await outcome(
    guardedFetch(
      `http://localhost:${params.port}/redirect`,
      {},
      {
        ...base,
        resolveHost: scriptedResolver({ localhost: rebind }, {}),
      },
    ),
  )
  const redirectOk = await outcome(
    guardedFetch(
      `http://first.test:${params.port}/hop`,
      {},
      {
        ...base,
        resolveHost: scriptedResolver({ 'first.test': [[STAND_IN_PUBLIC]], 'second.test': [[STAND_IN_PUBLIC]] }, {}),
      },
    ),
    true,
  )

  const tlsDns = scriptedResolver({ 'model.test': [[STAND_IN_PUBLIC]], 'impostor.test': [[STAND_IN_PUBLIC]] }, {})
  const tls = { ...base, resolveHost: tlsDns, caCerts: [params.ca] }
  const tlsNamed = await outcome(guardedFetch(`https://model.test:${params.tlsPort}/hello`, {}, tls))
  const tlsImpostor = await outcome(guardedFetch(`https://impostor.test:${params.tlsPort}/hello`, {}, tls))
  const tlsUntrusted = await outcome(
    guardedFetch(`https://model.test:${params.tlsPort}/hello`, {}, { ...base, resolveHost: tlsDns }),
  )

  // A tenant's model endpoint streams through the pinned connection: the server sends its
  // second delta only after the client acknowledged the first, so a buffered body never ends.
  let streamed: EgressScenarioResults['streamed']
  const guard = tenantModelEndpointGuard({
    allowLocalEndpoints: false,
    resolveHost: tlsDns,
    caCerts: [params.ca],
    blockedAddress,
  })
  const deltas: string[] = []
  try {
    const answer = await createModelClient().complete(
      { baseUrl: `https://model.test:${params.tlsPort}/v1`, model: 'm', apiKey: 'sk-tenant', guard },
      { messages: [{ role: 'user', content: 'Hello?' }] },
      {
        timeoutMs: 5_000,
        onTextDelta: (text) => {
          deltas.push(text)
          if (deltas.length === 1)
            void guardedFetch(`https://model.test:${params.tlsPort}/ack`, {}, tls).catch(() => {})
        },
      },
    )
    streamed = { content: answer.content, deltas }
  } catch (error) {
    const last = (error as { lastError?: { kind?: string; message?: string } }).lastError
    streamed = { failed: last?.kind ?? String(error) }
  }

  return {
    rebinding,
    rebindingRedirect,
    redirectOk: redirectOk as EgressScenarioResults['redirectOk'],
    tlsNamed,
    tlsImpostor,
    tlsUntrusted,
    streamed,
    lookups,
  }
}
