// @ts-check
// Small display helpers: relative times and byte sizes.

/** @type {[Intl.RelativeTimeFormatUnit, number][]} */
const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
]

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/**
 * @param {string} iso an ISO 8601 timestamp
 * @param {number} [now] milliseconds since the epoch
 * @returns {{text: string, title: string}}
 */
export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso)
  if (Number.isNaN(then)) return { text: 'unknown', title: String(iso) }
  const seconds = Math.round((then - now) / 1000)
  const title = absolute.format(new Date(then))
  if (Math.abs(seconds) < 45) return { text: 'just now', title }
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'minute') {
      return { text: relative.format(Math.round(seconds / size), unit), title }
    }
  }
  return { text: 'just now', title }
}

/** @param {number} bytes */
export function formatSize(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return '—'
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}
