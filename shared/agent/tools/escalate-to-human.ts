// escalate_to_human: the model's way to hand the conversation to a person.
// It only reports the wish; the worker changes the conversation's state and
// alerts the admins.

import { z } from 'zod'
import type { AgentTool } from './registry.ts'

export function escalateToHumanTool(): AgentTool<{ reason: string }> {
  return {
    name: 'escalate_to_human',
    description:
      'Hand the conversation to a human colleague when the user asks for a person, is upset, or you cannot help.',
    parameters: z.strictObject({
      reason: z.string().min(1).max(500).describe('Why a human is needed, for the team'),
    }),
    describeCall: () => 'hand this conversation to a human',
    async execute({ reason }) {
      return { ok: true, content: JSON.stringify({ escalated: true }), escalation: { reason } }
    },
  }
}
