// Runs egress-scenarios.ts under Deno for tests/unit/net/pinned-fetch.test.ts: the edge
// functions run the guarded client there. Parameters come as JSON in EGRESS_PROBE.
import process from 'node:process'
import { runEgressScenarios } from './egress-scenarios.ts'

const results = await runEgressScenarios(JSON.parse(process.env.EGRESS_PROBE ?? '{}'))
console.log(JSON.stringify(results))
