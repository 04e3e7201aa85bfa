// Waits for a condition instead of sleeping: polls `probe` until it returns a
// truthy value, or fails with what it was waiting for.
export async function until<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what = 'a condition',
  timeoutMs = 20_000,
): Promise<T> {
  const started = Date.now()
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() - started > timeoutMs) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
