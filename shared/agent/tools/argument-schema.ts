// A narrow JSON-schema subset for tool arguments: one flat object of
// strings, numbers, integers and booleans. The same value is sent to the
// model as the tool's `parameters` and used to validate what comes back, so
// the two can't drift. (When zod lands in package.json, these schemas can
// be written in zod and exported with z.toJSONSchema; the validator's
// contract — reject, never coerce — stays the same.)

export type FieldSchema =
  | { type: 'string'; description?: string; minLength?: number; maxLength?: number; enum?: readonly string[] }
  | { type: 'integer' | 'number'; description?: string; minimum?: number; maximum?: number }
  | { type: 'boolean'; description?: string }

export interface ArgumentSchema {
  type: 'object'
  properties: Readonly<Record<string, FieldSchema>>
  required?: readonly string[]
  additionalProperties: false
}

export type ArgumentCheck<T> = { ok: true; value: T } | { ok: false; errors: string[] }

function checkField(name: string, schema: FieldSchema, value: unknown, errors: string[]) {
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return void errors.push(`${name} must be a string`)
      if (schema.minLength !== undefined && value.length < schema.minLength)
        errors.push(`${name} must be at least ${schema.minLength} characters`)
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        errors.push(`${name} must be at most ${schema.maxLength} characters`)
      if (schema.enum && !schema.enum.includes(value)) errors.push(`${name} must be one of ${schema.enum.join(', ')}`)
      return
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return void errors.push(`${name} must be a number`)
      if (schema.type === 'integer' && !Number.isInteger(value)) errors.push(`${name} must be an integer`)
      if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${name} must be ≥ ${schema.minimum}`)
      if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${name} must be ≤ ${schema.maximum}`)
      return
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${name} must be true or false`)
      return
  }
}

/** Validates parsed arguments; unknown properties are errors, nothing is coerced. */
export function validateArguments<T>(schema: ArgumentSchema, value: unknown): ArgumentCheck<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, errors: ['arguments must be a JSON object'] }
  }
  const record = value as Record<string, unknown>
  const errors: string[] = []
  for (const name of schema.required ?? []) {
    if (record[name] === undefined || record[name] === null) errors.push(`${name} is required`)
  }
  for (const [name, fieldValue] of Object.entries(record)) {
    const field = schema.properties[name]
    if (!field) {
      errors.push(`${name} is not a known argument`)
      continue
    }
    if (fieldValue === undefined || (fieldValue === null && !(schema.required ?? []).includes(name))) continue
    checkField(name, field, fieldValue, errors)
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: record as T }
}
