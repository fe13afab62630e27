// @ts-check
// The roots of a document other than the one the editor shows that hold content: a plain
// Y.Text or a Y.Map written by another client (a script, a plain-text editor). The editor
// names them, so that such a document does not look empty (README, "Connecting a client").

/**
 * @param {import('yjs').Doc} ydoc
 * @param {string} shown the root the editor shows (its fragment, fields.js)
 * @returns {string[]} the names of the other roots holding anything not deleted, sorted
 */
export function otherRoots(ydoc, shown) {
  /** @type {string[]} */
  const names = []
  for (const [name, type] of ydoc.share) {
    if (name !== shown && holdsContent(type)) names.push(name)
  }
  return names.sort()
}

/** @param {import('yjs').AbstractType<any>} type */
function holdsContent(type) {
  for (let item = type._start; item !== null; item = item.right) {
    if (!item.deleted) return true
  }
  for (const item of type._map.values()) {
    if (!item.deleted) return true
  }
  return false
}
