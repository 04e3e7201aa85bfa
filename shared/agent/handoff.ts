// Deciding, before any model call, that a human should take over: the user
// asked for one, or one of the agent's escalation rules matched. Cheap,
// deterministic and explainable — a user who types "talk to a human" gets a
// human even when the model is down, over budget or absent.

export interface EscalationRule {
  /** Shown to the admins as the reason, e.g. "legal threat". */
  name: string
  /** Words or phrases, matched case-insensitively on word boundaries. */
  keywords: readonly string[]
}

export interface Escalation {
  source: 'user_request' | 'rule' | 'model'
  reason: string
}

function normalise(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[’`]/g, "'")
    .replace(/[^\p{L}\p{N}']+/gu, ' ')
    .trim()
}

const WHO = String.raw`(?:a |an |the |some |your |one of your )?(?:real |live |actual |human )?(?:human(?: being)?|person|people|agent|representative|rep|operator|someone|somebody|staff|manager|supervisor|colleague|support team|customer service)`
const HUMAN_REQUEST_PATTERNS = [
  // "can I talk to a human", "connect me with a real person", "transfer me to an agent"
  new RegExp(
    String.raw`\b(?:talk|speak|chat|connect|transfer|put|pass|escalate)\b(?: me| this| us)?(?: (?:to|with|through))? ${WHO}\b`,
  ),
  // "I want a human", "need a real person", "get me someone"
  new RegExp(String.raw`\b(?:want|need|get|give|prefer)(?: me| to have)? ${WHO.replace('someone|somebody|', '')}\b`),
  /\b(?:real|live|actual) (?:human|person|agent)\b/,
  /\bhuman (?:please|pls|now)\b/,
  /^(?:human|agent|operator|representative|person)(?: please)?$/,
]
const NEGATION = /\b(?:don't|dont|do not|no need|never|not)\b(?: \w+){0,3}$/

/** True when the message asks for a person (English). "I don't need a human" is not a request. */
export function detectHumanRequest(text: string): boolean {
  const clean = normalise(text)
  if (!clean) return false
  for (const pattern of HUMAN_REQUEST_PATTERNS) {
    const match = pattern.exec(clean)
    if (!match) continue
    if (NEGATION.test(clean.slice(0, match.index).trim())) continue
    return true
  }
  return false
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The first rule with a keyword in the message, or null. */
export function matchEscalationRule(text: string, rules: readonly EscalationRule[]): EscalationRule | null {
  const clean = ` ${normalise(text)} `
  for (const rule of rules) {
    for (const keyword of rule.keywords) {
      const needle = normalise(keyword)
      if (!needle) continue
      if (new RegExp(` ${escapeRegExp(needle)} `).test(clean)) return rule
    }
  }
  return null
}

/** The pre-model decision for one incoming message. */
export function escalationForMessage(text: string, rules: readonly EscalationRule[] = []): Escalation | null {
  if (detectHumanRequest(text)) return { source: 'user_request', reason: 'The user asked to talk to a human.' }
  const rule = matchEscalationRule(text, rules)
  if (rule) return { source: 'rule', reason: `Escalation rule matched: ${rule.name}` }
  return null
}
