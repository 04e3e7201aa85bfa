// Agent-worker settings for integration tests: few attempts, short backoff and a
// bounded time budget, so retries and dead letters happen within a test's time.
export const testWorkerEnv: Record<string, string> = {
  WORKER_MAX_ATTEMPTS: '3',
  WORKER_RETRY_BASE_DELAY_SECONDS: '1',
  WORKER_VISIBILITY_TIMEOUT_SECONDS: '30',
  WORKER_TIME_BUDGET_MS: '25000',
  WORKER_JOB_RESERVE_MS: '5000',
  WORKER_DELIVERY_LEASE_SECONDS: '5',
  WORKER_MEMORY_QUIET_SECONDS: '0',
  MODEL_TIMEOUT_MS: '5000',
}
