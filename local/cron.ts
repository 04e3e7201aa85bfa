// pg_cron for the local stack: runs the commands in cron.job on their schedule,
// "[1-59] seconds", an @special or a 5-field cron expression with pg_cron's names and
// `$` (evaluated in UTC, like pg_cron's default), and records each run in
// cron.job_run_details. cron.schedule in local/platform.sql refuses what pg_cron refuses.
import type { LocalDb } from './db.ts'

interface Job {
  jobid: number
  jobname: string | null
  schedule: string
  command: string
}

const TICK_MS = 1000

export class CronScheduler {
  private readonly timer: NodeJS.Timeout
  private readonly lastRun = new Map<number, number>()
  private readonly running = new Set<number>()
  private stopped = false

  constructor(
    private readonly db: LocalDb,
    private readonly log: (line: string) => void,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.timer = setInterval(() => {
      this.tick().catch((error: unknown) => this.log(`pg_cron: ${(error as Error).message}`))
    }, TICK_MS)
    this.timer.unref()
  }

  async tick(): Promise<void> {
    if (this.stopped) return
    const { rows } = await this.db.pg.query<Job>('select jobid, jobname, schedule, command from cron.job where active')
    const now = this.now()
    for (const job of rows) {
      if (this.running.has(job.jobid) || !this.isDue(job, now)) continue
      this.lastRun.set(job.jobid, now.getTime())
      this.running.add(job.jobid)
      void this.run(job).finally(() => this.running.delete(job.jobid))
    }
  }

  private isDue(job: Job, now: Date): boolean {
    const seconds = /^\s*(\d+)\s*seconds?\s*$/i.exec(job.schedule)
    const last = this.lastRun.get(job.jobid)
    if (seconds) {
      const interval = Number(seconds[1]) * 1000
      if (last === undefined) {
        // First sighting: start the interval now rather than firing at once.
        this.lastRun.set(job.jobid, now.getTime())
        return false
      }
      return now.getTime() - last >= interval
    }
    const minute = Math.floor(now.getTime() / 60_000)
    if (last !== undefined && Math.floor(last / 60_000) === minute) return false
    return matchesCron(job.schedule, now)
  }

  private async run(job: Job): Promise<void> {
    const start = new Date()
    let status = 'succeeded'
    let message = 'ok'
    try {
      await this.db.asOwner((tx) => tx.exec(job.command))
    } catch (error) {
      status = 'failed'
      message = (error as Error).message
      this.log(`pg_cron job ${job.jobname ?? job.jobid} failed: ${message}`)
    }
    if (this.stopped) return
    await this.db.pg.query(
      `insert into cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
       values ($1, 'postgres', 'postgres', $2, $3, $4, $5, now())`,
      [job.jobid, job.command, status, message, start],
    )
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
  }
}

const fieldRanges: Array<[number, number]> = [
  [0, 59], // minute
  [0, 23], // hour
  [1, 31], // day of month
  [1, 12], // month
  [0, 7], // day of week (0 and 7 are Sunday)
]

const specials: Record<string, string> = {
  yearly: '0 0 1 1 *',
  annually: '0 0 1 1 *',
  monthly: '0 0 1 * *',
  weekly: '0 0 * * 0',
  daily: '0 0 * * *',
  midnight: '0 0 * * *',
  hourly: '0 * * * *',
}
const fieldNames: Array<string[] | undefined> = [
  undefined,
  undefined,
  undefined,
  ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
]

/** True when a cron expression (5 fields, names, `$`, or an @special) matches the minute of `at` (UTC). */
export function matchesCron(expression: string, at: Date): boolean {
  const trimmed = expression.trim()
  // @reboot runs at pg_cron's start only; the local stack never restarts pg_cron mid-run.
  const expanded = trimmed.startsWith('@') ? specials[trimmed.slice(1).split(/\s/)[0]] : trimmed
  if (!expanded) return false
  // pg_cron ignores anything after the fifth field.
  const fields = expanded.split(/\s+/).slice(0, 5)
  if (fields.length !== 5) return false
  const values = [at.getUTCMinutes(), at.getUTCHours(), at.getUTCDate(), at.getUTCMonth() + 1, at.getUTCDay()]
  const lastDay = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 0)).getUTCDate()
  const matches = fields.map((field, i) => {
    if (i === 2 && field === '$') return values[2] === lastDay
    const numeric = field.replace(/[a-z]+/gi, (name) => {
      const index = fieldNames[i]?.indexOf(name.toLowerCase()) ?? -1
      return index < 0 ? name : String(index + fieldRanges[i][0])
    })
    return matchesField(numeric, values[i], fieldRanges[i], i === 4)
  })
  const [minute, hour, dom, month, dow] = matches
  // As in cron: when both day fields are restricted, either may match.
  const dayRestricted = fields[2] !== '*' && fields[4] !== '*'
  const day = dayRestricted ? dom || dow : dom && dow
  return minute && hour && month && day
}

function matchesField(field: string, value: number, [min, max]: [number, number], weekday: boolean): boolean {
  return field.split(',').some((part) => {
    const [range, stepText] = part.split('/')
    const step = stepText === undefined ? 1 : Number(stepText)
    if (!Number.isInteger(step) || step < 1) return false
    let low: number
    let high: number
    if (range === '*') {
      low = min
      high = max
    } else if (range.includes('-')) {
      ;[low, high] = range.split('-').map(Number)
    } else {
      low = Number(range)
      high = stepText === undefined ? low : max
    }
    if (!Number.isInteger(low) || !Number.isInteger(high)) return false
    const candidates = weekday && value === 0 ? [0, 7] : [value]
    return candidates.some((v) => v >= low && v <= high && (v - low) % step === 0)
  })
}
