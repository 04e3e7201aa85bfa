// A function's configuration, read once at start: required values fail loudly
// (`<NAME> is not set`), never per request and never as `undefined as string`.

export type Env = Record<string, string | undefined>

export function requireEnv(env: Env, key: string): string {
  const value = env[key]?.trim()
  if (!value) throw new Error(`${key} is not set`)
  return value
}

export function optionalEnv(env: Env, key: string): string | undefined {
  const value = env[key]?.trim()
  return value ? value : undefined
}

/** A non-negative number from the environment; the default when absent or not a number. */
export function numberEnv(env: Env, key: string, fallback: number): number {
  const raw = optionalEnv(env, key)
  const value = raw === undefined ? NaN : Number(raw)
  return Number.isFinite(value) && value >= 0 ? value : fallback
}
