// CPU time per message, by program: what the bench's own process (node: the bench, the local
// stack and PGlite when it is the database), its Deno functions and the native PostgreSQL it
// started spent, from Linux's /proc. On two cores a message that costs C ms of CPU in all
// cannot pass 2000 / C per second whatever its latency, so this says where a throughput
// is bound. Only this process and its descendants are counted (a server given with
// --db postgres://… is not); elsewhere than Linux the figures are null.
import { readdirSync, readFileSync } from 'node:fs'

/** Linux reports process times in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const MS_PER_TICK = 10

/** Ticks by program name; a process counted apart is keyed by its label under APART. */
type Ticks = Map<string, number>

/** Descendants that stand for the outside world (a forked load sender), by pid, with their label. */
const outside = new Map<number, string>()
const APART = 'apart:'

/**
 * Counts `pid` (a descendant) and whatever it starts under `label`, apart from the total:
 * its CPU is the sender's, not ours.
 */
export function countApart(pid: number, label: string): void {
  outside.set(pid, label)
}

/** CPU ticks so far of this process and its descendants, summed by program name. */
function ticksByProgram(): Ticks | null {
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return null
  }
  const processes = new Map<number, { parent: number; program: string; ticks: number }>()
  for (const pid of pids) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue // it ended meanwhile
    }
    // pid (comm) state ppid … utime stime: comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')')
    const fields = stat.slice(close + 2).split(' ')
    processes.set(Number(pid), {
      parent: Number(fields[1]),
      program: stat.slice(stat.indexOf('(') + 1, close),
      ticks: Number(fields[11]) + Number(fields[12]),
    })
  }
  // Whose a process is: a label counted apart, ours (a program name), or neither (null).
  const owner = (pid: number): string | null => {
    for (let at = pid, hops = 0; at > 1 && hops < 64; at = processes.get(at)?.parent ?? 0, hops++) {
      const label = outside.get(at)
      if (label !== undefined) return APART + label
      if (at === process.pid) return processes.get(pid)!.program
    }
    return null
  }
  const ticks: Ticks = new Map()
  for (const [pid, p] of processes) {
    const key = owner(pid)
    if (key !== null) ticks.set(key, (ticks.get(key) ?? 0) + p.ticks)
  }
  return ticks
}

export interface CpuMark {
  ticks: Ticks | null
}

export function markCpu(): CpuMark {
  return { ticks: ticksByProgram() }
}

/** Milliseconds of CPU per message since `mark`, by program, and their total; null off Linux. */
export function cpuPerMessage(mark: CpuMark, messages: number): Record<string, number> | null {
  const now = ticksByProgram()
  if (!now || !mark.ticks) return null
  const per = (ticks: number) => Math.round(((ticks * MS_PER_TICK) / messages) * 100) / 100
  const out: Record<string, number> = {}
  let total = 0
  for (const [key, ticks] of [...now].sort(([a], [b]) => a.localeCompare(b))) {
    const spent = ticks - (mark.ticks.get(key) ?? 0)
    if (spent <= 0) continue
    if (key.startsWith(APART)) {
      const label = key.slice(APART.length)
      out[now.has(label) ? `${label} (apart)` : label] = per(spent)
    } else {
      out[key] = per(spent)
      total += spent
    }
  }
  out.total = per(total)
  return out
}
