// Zod issues as people read them: one line per issue, each with where it is, and one message
// for keys a format does not know. Shared by the settings formats (agent, channel).
import type { z } from 'zod'

/** The messages of a failed parse as one line per issue, each with where it is. */
export function describeIssues(error: z.ZodError, where = ''): string[] {
  return error.issues.map((issue) => {
    const path = [where, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
      .filter(Boolean)
      .join('.')
      .replace(/\.\[/g, '[')
    return path ? `${path}: ${issue.message}` : issue.message
  })
}

/** The error of a strict object: names the unknown keys and the known ones. */
export function unknownKeys(what: string, known: string) {
  return (issue: { code?: string; keys?: string[] }) =>
    issue.code === 'unrecognized_keys'
      ? `Unknown ${what}${issue.keys && issue.keys.length > 1 ? 's' : ''} ${(issue.keys ?? []).map((k) => `“${k}”`).join(', ')}: the ${what}s are ${known}.`
      : undefined
}
