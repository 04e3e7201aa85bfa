// escalate_to_human: the model's way to hand the conversation to a person.
// It only reports the wish; the worker changes the conversation's state and
// alerts the admins.

import { z } from 'zod'
import type { AgentTool } from './registry.ts'

export function escalateToHumanTool(): AgentTool<{ reason: string }> {
  return {
    name: 'escalate_to_human',
    // Models call a tool whose description says when to use it, names the cases
    // plainly and says what happens next; a vague one is skipped in favour of a reply.
    description:
      'Hand this conversation to a human teammate. Call it immediately, instead of replying, when the user: ' +
      'asks for a person in any words or language ("talk to a human", "real person", "agent please", ' +
      '"hablar con una persona"); is angry, repeats a complaint, or says you are not helping; ' +
      'raises something you must not decide (legal threats, refunds or account changes beyond the rules you ' +
      'were given, safety, medical or financial advice); or asks something your knowledge and tools cannot ' +
      'answer after one try. Do not try to talk them out of it. A teammate is notified and takes over the ' +
      'conversation; after calling it, tell the user briefly that a person will follow up here.',
    parameters: z.strictObject({
      reason: z
        .string()
        .min(1)
        .max(500)
        .describe('One sentence for the teammate: what the user needs and why you are handing over'),
    }),
    describeCall: () => 'hand this conversation to a human',
    async execute({ reason }) {
      return { ok: true, content: JSON.stringify({ escalated: true }), escalation: { reason } }
    },
  }
}
