// WhatsApp lets a business send free-form messages only within 24 hours of the customer's
// last message (the customer-service window); outside it only an approved template may be
// sent. The check is made before sending so the reply can fall back to a template, or be
// recorded as undeliverable, instead of failing at Meta with error 131047.

export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000

export function isInsideServiceWindow(lastInboundAt: Date | null | undefined, now: Date): boolean {
  if (!lastInboundAt) return false
  const age = now.getTime() - lastInboundAt.getTime()
  // A message stamped slightly in the future (clock skew) still opens the window.
  return age < SERVICE_WINDOW_MS
}

/** When the window closes, or null if it was never opened. */
export function serviceWindowClosesAt(lastInboundAt: Date | null | undefined): Date | null {
  return lastInboundAt ? new Date(lastInboundAt.getTime() + SERVICE_WINDOW_MS) : null
}
