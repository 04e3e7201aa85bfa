// Where a user is sent after signing in, signing up or following an email link:
// only a path on the portal itself. Browsers read `/\host`, `/<TAB>/host` and
// `//host` as another origin, so the decision is made on the URL the browser
// would resolve, not on how the text starts.

/** `next` as a same-origin path (path, query, hash), or `fallback` when it would leave `origin`. */
export function sameOriginPath(next: string | null | undefined, origin: string | URL, fallback = '/'): string {
  if (!next || !next.startsWith('/')) return fallback
  // Control characters and backslashes have no business in a path we produced ourselves.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return fallback
  const base = new URL(origin)
  let resolved: URL
  try {
    resolved = new URL(next, base)
  } catch {
    return fallback
  }
  if (resolved.origin !== base.origin) return fallback
  return `${resolved.pathname}${resolved.search}${resolved.hash}`
}
