// Latency figures as the benches print them: a q-quantile is the floor(q·n)-th smallest
// sample (NaN without samples).

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN

export function percentile(samples: readonly number[], q: number): number {
  return quantile(
    [...samples].sort((a, b) => a - b),
    q,
  )
}

/** Count, p50, p95 and max of samples in ms, rounded to `digits` decimals. */
export function summarize(samples: readonly number[], digits: number) {
  const sorted = [...samples].sort((a, b) => a - b)
  const round = (n: number) => Math.round(n * 10 ** digits) / 10 ** digits
  return {
    n: sorted.length,
    p50_ms: round(quantile(sorted, 0.5)),
    p95_ms: round(quantile(sorted, 0.95)),
    max_ms: round(sorted.at(-1) ?? NaN),
  }
}
