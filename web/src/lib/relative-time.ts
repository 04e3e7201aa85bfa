// "3 minutes ago" in the reader's language (Intl.RelativeTimeFormat), a date beyond a week.
const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 7],
]

export function relativeTime(date: Date, now: number = Date.now(), locale?: string): string {
  let value = (date.getTime() - now) / 1000
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto', style: 'long' })
  if (Math.abs(value) < 45) return format.format(0, 'second')
  for (const [unit, size] of UNITS) {
    if (Math.abs(value) < size) return format.format(Math.round(value), unit)
    value /= size
  }
  return date.toLocaleDateString(locale)
}
