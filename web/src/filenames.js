// @ts-check
// File names of downloads: the one the server proposes in Content-Disposition (RFC 6266,
// with RFC 5987's filename*), else one made from the document name.

/** @type {Record<string, string>} */
export const EXTENSIONS = { markdown: 'md', html: 'html', text: 'txt', json: 'json', yjs: 'yjs' }

/**
 * The file name a Content-Disposition header proposes: filename* (UTF-8, percent-encoded)
 * first, then the plain filename; null when there is none or it is unusable.
 * @param {string | null} header
 * @returns {string | null}
 */
export function filenameFrom(header) {
  if (!header) return null
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header)
  if (star) {
    try {
      return safeFilename(decodeURIComponent(star[2].trim().replace(/^"|"$/g, '')))
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header)
  if (plain) return safeFilename((plain[2] ?? plain[1]).trim())
  return null
}

/**
 * The last "/"-segment of a document name with the format's extension ("team/notes" ->
 * "notes.md"); "document" when that segment is unusable as a file name.
 * @param {string} name
 * @param {string} format
 */
export function fallbackFilename(name, format) {
  const base = safeFilename(name.split('/').pop() || '') || 'document'
  return `${base}.${EXTENSIONS[format] || 'txt'}`
}

/**
 * A name with no folder part or control characters, or null when nothing usable is left.
 * @param {string} name
 * @returns {string | null}
 */
function safeFilename(name) {
  // eslint-disable-next-line no-control-regex
  const cleaned = name.replace(/[\u0000-\u001f\u007f]/g, '').split(/[/\\]/).pop()?.trim() || ''
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? null : cleaned
}
