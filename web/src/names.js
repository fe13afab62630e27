// @ts-check
// Document names: the server's rules (collab/names.py, checked against this file by
// tests/test_web_contracts.py) and their form in URLs. Names may contain "/"; in URLs each
// segment is percent-encoded on its own, so "notes/2025 plan" becomes "notes/2025%20plan" in
// /d/..., /sync/... and /api/documents/....

/** Longest name in UTF-8 bytes (collab.names.MAX_NAME_BYTES). */
export const MAX_NAME_BYTES = 255

// Unicode categories Cc (controls) and Cs (lone surrogates), as the server refuses them.
const CONTROL = /[\p{Cc}\p{Cs}]/u

/**
 * Why the server would refuse a (decoded) document name, in plain words; null when it is valid.
 * @param {string} name
 * @returns {string | null}
 */
export function nameProblem(name) {
  if (name === '') return 'A document name cannot be empty.'
  const size = utf8Length(name)
  if (size > MAX_NAME_BYTES) {
    return `A document name can be at most ${MAX_NAME_BYTES} bytes long; this one is ${size}.`
  }
  if (CONTROL.test(name)) return 'A document name cannot contain control characters (such as a line break or tab).'
  for (const segment of name.split('/')) {
    if (segment === '') return 'A document name cannot start or end with “/” or contain “//”.'
    if (segment === '.' || segment === '..') return 'A document name cannot contain “.” or “..” between slashes.'
  }
  return null
}

/**
 * UTF-8 length of a string; a lone surrogate counts 3 bytes, as Python's "surrogatepass".
 * @param {string} text
 */
export function utf8Length(text) {
  let bytes = 0
  for (const ch of text) {
    const code = /** @type {number} */ (ch.codePointAt(0))
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
  }
  return bytes
}

/** @param {string} name */
export function encodeName(name) {
  return name.split('/').map(encodeURIComponent).join('/')
}

/**
 * @param {string} path the encoded name, e.g. the part of location.pathname after "/d/"
 * @returns {string | null} the name, or null when the path is not valid percent-encoding
 */
export function decodeName(path) {
  try {
    return path.split('/').map(decodeURIComponent).join('/')
  } catch {
    return null
  }
}

/** @param {string} name */
export function editorPath(name) {
  return `/d/${encodeName(name)}`
}
