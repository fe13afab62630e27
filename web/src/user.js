// The local person's display name and caret colour, remembered in localStorage.

const NAME_KEY = 'collab.user.name'
const COLOR_KEY = 'collab.user.color'

// Dark enough for white label text (contrast >= 4.5:1); #rrggbb, which the caret extension requires.
export const PALETTE = [
  '#b91c1c', '#c2410c', '#a16207', '#15803d', '#0f766e',
  '#0369a1', '#1d4ed8', '#4338ca', '#7e22ce', '#be185d',
]

function load(key) {
  try {
    return window.localStorage.getItem(key)
  } catch {
    return null
  }
}

function save(key, value) {
  try {
    window.localStorage.setItem(key, value)
  } catch {
    // storage disabled (private mode): the value lasts for this page only
  }
}

function randomItem(items) {
  const index = crypto.getRandomValues(new Uint32Array(1))[0] % items.length
  return items[index]
}

/** @returns {{name: string, color: string}} */
export function loadUser() {
  let name = (load(NAME_KEY) || '').trim()
  if (!name) {
    name = `Guest ${100 + (crypto.getRandomValues(new Uint32Array(1))[0] % 900)}`
    save(NAME_KEY, name)
  }
  let color = load(COLOR_KEY) || ''
  if (!/^#[0-9a-fA-F]{6}$/.test(color)) {
    color = randomItem(PALETTE)
    save(COLOR_KEY, color)
  }
  return { name, color }
}

/** @param {string} name */
export function saveName(name) {
  save(NAME_KEY, name)
}
