// @ts-check
// The collab HTTP API. Errors come back as JSON {"error": code, "detail": text}; ApiError turns
// them (and network failures) into a sentence a person can act on.
import { currentToken } from './auth.js'
import { fallbackFilename, filenameFrom } from './filenames.js'
import { encodeName } from './names.js'

export class ApiError extends Error {
  /**
   * @param {string} message plain-words message for the page
   * @param {{status?: number, code?: string, detail?: string}} info
   */
  constructor(message, { status = 0, code = '', detail = '' } = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.detail = detail
  }
}

/**
 * @param {number} status
 * @param {string} detail
 */
function plainWords(status, detail) {
  if (status === 401) return 'Your access token is missing or expired; get a new link.'
  if (status === 403) return 'You do not have permission to do that. Ask for a link with more access.'
  if (status === 404) return 'That document or page does not exist.'
  if (status === 410) return 'This document was deleted.'
  if (status === 413) return 'That is too large for the server to accept.'
  if (status === 429) return 'Too many requests right now. Wait a moment and try again.'
  if (status >= 500) return 'The server had a problem. Try again in a moment.'
  return detail || `The server refused the request (HTTP ${status}).`
}

/**
 * fetch() against the API with the page's token; throws ApiError unless the answer is 2xx.
 * @param {string} path origin-relative, e.g. "/api/documents"
 * @param {RequestInit} [init]
 */
export async function apiFetch(path, init = {}) {
  const headers = new Headers(init.headers || {})
  const token = currentToken()
  if (token) headers.set('Authorization', `Bearer ${token}`)
  let response
  try {
    response = await fetch(path, { ...init, headers })
  } catch {
    throw new ApiError('Could not reach the server. Check your connection and try again.')
  }
  if (!response.ok) {
    let code = ''
    let detail = ''
    try {
      const body = await response.json()
      code = typeof body.error === 'string' ? body.error : ''
      detail = typeof body.detail === 'string' ? body.detail : ''
    } catch {
      // not JSON: keep the status only
    }
    const message = plainWords(response.status, detail)
    throw new ApiError(message, { status: response.status, code, detail })
  }
  return response
}

/**
 * @param {{limit?: number, sort?: string, cursor?: string | null, prefix?: string}} opts
 * @returns {Promise<{documents: Array<{name: string, created_at: string, updated_at: string,
 *   size_bytes: number, updates: number, peers: number}>, next_cursor: string | null}>}
 */
export async function listDocuments({ limit = 50, sort = 'updated_at', cursor = null, prefix = '' } = {}) {
  const query = new URLSearchParams({ limit: String(limit), sort })
  if (cursor) query.set('cursor', cursor)
  if (prefix) query.set('prefix', prefix)
  const response = await apiFetch(`/api/documents?${query}`)
  try {
    const body = await response.json()
    return { documents: body.documents || [], next_cursor: body.next_cursor ?? null }
  } catch {
    throw new ApiError('The server sent a document list this page cannot read.')
  }
}

/**
 * Deletes a document (needs an admin token when the server has auth on); its editors are closed
 * with 4410.
 * @param {string} name
 */
export async function deleteDocument(name) {
  await apiFetch(`/api/documents/${encodeName(name)}`, { method: 'DELETE' })
}

/**
 * Renames a document (needs an admin token for both names when the server has auth on); its
 * editors are closed with 4409 and follow it to the new name.
 * @param {string} name
 * @param {string} to
 * @returns {Promise<{name: string, created_at: string, updated_at: string, size_bytes: number,
 *   updates: number, peers: number}>} the document's record under its new name
 */
export async function renameDocument(name, to) {
  const response = await apiFetch(`/api/documents/${encodeName(name)}/rename`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ to }),
  })
  return response.json()
}

/**
 * Downloads the server's export of a document (fetch, so the bearer token is sent).
 * @param {string} name
 * @param {'markdown' | 'html'} format
 */
export async function downloadExport(name, format) {
  const path = `/api/documents/${encodeName(name)}/export?format=${encodeURIComponent(format)}`
  const response = await apiFetch(path)
  const blob = await response.blob()
  const filename = filenameFrom(response.headers.get('Content-Disposition')) || fallbackFilename(name, format)
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  link.hidden = true
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
  return filename
}
