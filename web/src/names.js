// Document names may contain "/". In URLs each segment is percent-encoded on its own, so
// "notes/2025 plan" becomes "notes/2025%20plan" in /d/..., /sync/... and /api/documents/....

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
