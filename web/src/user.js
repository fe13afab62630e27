// @ts-check
// The local person's display name and caret colour, remembered in localStorage.
import { PALETTE, isColor } from './colors.js'

const NAME_KEY = 'collab.user.name'
const COLOR_KEY = 'collab.user.color'

/** @param {string} key */
function load(key) {
  try {
    return window.localStorage.getItem(key)
  } catch {
    return null
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function save(key, value) {
  try {
    window.localStorage.setItem(key, value)
  } catch {
    // storage disabled (private mode): the value lasts for this page only
  }
}

function randomIndex(length) {
  return crypto.getRandomValues(new Uint32Array(1))[0] % length
}

/** @returns {{name: string, color: string}} */
export function loadUser() {
  let name = (load(NAME_KEY) || '').trim()
  if (!name) {
    name = `Guest ${100 + randomIndex(900)}`
    save(NAME_KEY, name)
  }
  let color = load(COLOR_KEY) || ''
  if (!isColor(color)) {
    color = PALETTE[randomIndex(PALETTE.length)]
    save(COLOR_KEY, color)
  }
  return { name, color }
}

/** @param {string} name */
export function saveName(name) {
  save(NAME_KEY, name)
}
