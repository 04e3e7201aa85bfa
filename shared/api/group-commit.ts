// Group commit: concurrent calls of one api function travel together as one call of its
// batch form, so a burst pays one request and one transaction for many of them.
//
// A call waits only while earlier batches are in flight: with a free slot it is sent at
// once, alone, so a quiet function answers as fast as before. What arrives meanwhile is
// sent together when a slot frees (at most maxBatch calls or about maxBytes of arguments).
// The batch function takes the calls' arguments as one JSON array and answers one
// {"result": …} or {"error": {"code", "message"}} per call, in order; each caller gets
// its own result, or an ApiError with its own code, exactly as if it had called alone.
// When the whole batch fails (no answer, a 5xx), every call in it fails with that error.

import { type Api, ApiError } from './client.ts'

export interface GroupCommitOptions {
  /** The batch function, e.g. 'ingest_slack_messages'. */
  fn: string
  /** Its one argument, the JSON array of the calls' arguments. */
  arg: string
  /** Most calls in one batch (the batch function's own limit). */
  maxBatch: number
  /** About the most bytes of JSON arguments in one batch; a larger single call goes alone. */
  maxBytes: number
  /** Batches in flight at once. */
  maxInFlight: number
}

type Answer = { result: unknown } | { error: { code: string; message: string } }

interface Waiting {
  args: Record<string, unknown>
  bytes: number
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

export function groupCommit<R>(rpc: Api, options: GroupCommitOptions): (args: Record<string, unknown>) => Promise<R> {
  const { fn, arg, maxBatch, maxBytes, maxInFlight } = options
  const waiting: Waiting[] = []
  let inFlight = 0

  function nextBatch(): Waiting[] {
    let count = 0
    let bytes = 0
    while (count < waiting.length && count < maxBatch && (count === 0 || bytes + waiting[count]!.bytes <= maxBytes)) {
      bytes += waiting[count]!.bytes
      count++
    }
    return waiting.splice(0, count)
  }

  async function send(batch: Waiting[]) {
    try {
      const answers = await rpc<Answer[]>(fn, { [arg]: batch.map((call) => call.args) })
      if (!Array.isArray(answers) || answers.length !== batch.length) {
        throw new ApiError(fn, 200, 'shape', `expected ${batch.length} answers`)
      }
      batch.forEach((call, i) => {
        const answer = answers[i]
        if (answer && 'result' in answer) call.resolve(answer.result)
        else if (answer && 'error' in answer) {
          call.reject(new ApiError(fn, 200, answer.error.code, answer.error.message))
        } else call.reject(new ApiError(fn, 200, 'shape', `answer ${i} is neither a result nor an error`))
      })
    } catch (error) {
      // Settling twice is a no-op, so the calls already answered keep their answers.
      for (const call of batch) call.reject(error)
    }
  }

  function flush() {
    while (inFlight < maxInFlight && waiting.length > 0) {
      inFlight++
      void send(nextBatch()).finally(() => {
        inFlight--
        flush()
      })
    }
  }

  return (args) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ args, bytes: JSON.stringify(args).length, resolve: resolve as (value: unknown) => void, reject })
      flush()
    })
}
