// Constant-time string equality for secrets compared directly (API keys, verify tokens,
// worker secrets). Runs over the longer input so the time does not reveal a matching prefix.
const encoder = new TextEncoder()

export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  const length = Math.max(x.length, y.length)
  let diff = x.length ^ y.length
  for (let i = 0; i < length; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}
