// Tool arguments are zod objects. The same schema is exported to the model as
// the tool's `parameters` (z.toJSONSchema) and used to validate what comes
// back, so the two can't drift. Validation is strict — unknown keys are
// refused — and never coerces: a string where a number belongs is an error.
// zod's issues are turned into short messages the model can act on; the raw
// exception never reaches it.

import { z } from 'zod'

/** A tool's arguments: one zod object (made strict when the registry is built). */
export type ToolArguments = z.ZodObject

/**
 * A plain JSON Schema object, for tools defined as data rather than code. It is
 * converted with z.fromJSONSchema, so zod validates it like any other tool.
 */
export type JsonObjectSchema = z.core.JSONSchema.ObjectSchema

export type ArgumentCheck<T> = { ok: true; value: T } | { ok: false; errors: string[] }

/** The strict zod object the registry validates with. */
export function argumentSchema(parameters: ToolArguments | JsonObjectSchema): ToolArguments {
  const schema = parameters instanceof z.ZodType ? parameters : z.fromJSONSchema(parameters)
  if (!(schema instanceof z.ZodObject)) throw new Error('tool arguments must be an object schema')
  return schema.strict()
}

/** The JSON Schema sent to the model as the tool's `parameters`. */
export function argumentJsonSchema(schema: ToolArguments): Record<string, unknown> {
  const { $schema: _draft, ...json } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>
  if (json.type !== 'object' || json.additionalProperties !== false) {
    throw new Error('tool arguments must export as a closed JSON object schema')
  }
  return { ...json, properties: json.properties ?? {} }
}

/**
 * Validates parsed arguments. An explicit null counts as absent: fine for an
 * optional argument, "is required" for a required one.
 */
export function checkArguments<T>(schema: ToolArguments, value: unknown): ArgumentCheck<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, errors: ['arguments must be a JSON object'] }
  }
  const present = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined))
  const result = schema.safeParse(present)
  if (result.success) return { ok: true, value: result.data as T }
  return { ok: false, errors: result.error.issues.flatMap((issue) => describeIssue(issue, present)) }
}

function describeIssue(issue: z.core.$ZodIssue, input: Record<string, unknown>): string[] {
  const name = issue.path.map(String).join('.')
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => `${[name, key].filter(Boolean).join('.')} is not a known argument`)
  if (!name) return ['arguments must be a JSON object']
  const given = issue.path.reduce<unknown>(
    (at, key) => (at && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined),
    input,
  )
  switch (issue.code) {
    case 'invalid_type':
      if (given === undefined) return [`${name} is required`]
      switch (issue.expected) {
        case 'string':
          return [`${name} must be a string`]
        case 'int':
          return [typeof given === 'number' ? `${name} must be an integer` : `${name} must be a number`]
        case 'number':
          return [`${name} must be a number`]
        case 'boolean':
          return [`${name} must be true or false`]
        default:
          return [`${name} must be of type ${issue.expected}`]
      }
    case 'too_small':
      return [
        issue.origin === 'string'
          ? `${name} must be at least ${issue.minimum} characters`
          : `${name} must be ${issue.inclusive ? '≥' : '>'} ${issue.minimum}`,
      ]
    case 'too_big':
      return [
        issue.origin === 'string'
          ? `${name} must be at most ${issue.maximum} characters`
          : `${name} must be ${issue.inclusive ? '≤' : '<'} ${issue.maximum}`,
      ]
    case 'invalid_value':
      return [`${name} must be one of ${issue.values.map(String).join(', ')}`]
    default:
      return [`${name} is not valid`]
  }
}
