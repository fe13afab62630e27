// @ts-check
// Caret colours: each person keeps their remembered colour unless someone with priority
// (a lower Yjs client id) already shows it; then they take the first free colour of the palette.

// Dark enough for white label text (contrast >= 4.5:1); #rrggbb, which the caret extension requires.
export const PALETTE = [
  '#b91c1c', '#c2410c', '#a16207', '#15803d', '#0f766e',
  '#0369a1', '#1d4ed8', '#4338ca', '#7e22ce', '#be185d',
]

const HEX = /^#[0-9a-fA-F]{6}$/

/** @param {unknown} color */
export function isColor(color) {
  return typeof color === 'string' && HEX.test(color)
}

/**
 * The colour this person should show.
 * @param {string} preferred the remembered colour
 * @param {number} self this person's client id
 * @param {Iterable<[number, string | undefined]>} others client id and colour of everyone present
 * @param {readonly string[]} [palette]
 * @returns {string} `preferred` when no one with a lower client id shows it; else the first
 *   palette colour no one present shows; else (more people than colours) `preferred`.
 */
export function distinctColor(preferred, self, others, palette = PALETTE) {
  const ahead = new Set()
  const shown = new Set()
  for (const [clientId, color] of others) {
    if (clientId === self || !isColor(color)) continue
    const key = /** @type {string} */ (color).toLowerCase()
    shown.add(key)
    if (clientId < self) ahead.add(key)
  }
  if (!ahead.has(preferred.toLowerCase())) return preferred
  return palette.find((color) => !shown.has(color.toLowerCase())) ?? preferred
}
