// @ts-check
// Access tokens: taken from the page URL (?token=...), sent to the sync socket as a query
// parameter and to the HTTP API as a bearer token. The payload is decoded only to adapt the UI
// (read-only role); the server is the one that verifies it.

const ROLES = new Set(['read', 'write', 'admin'])

/** @returns {string | null} the token from the current page URL, if any */
export function currentToken() {
  const token = new URLSearchParams(window.location.search).get('token')
  return token ? token : null
}

/**
 * Decodes the payload of a JWT (header.payload.signature) without verifying it.
 * @param {string} token
 * @returns {Record<string, unknown> | null}
 */
export function decodeJwtPayload(token) {
  const parts = token.split('.')
  if (parts.length < 2) return null
  try {
    let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/')
    b64 += '='.repeat((4 - (b64.length % 4)) % 4)
    const binary = atob(b64)
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
    const payload = JSON.parse(new TextDecoder().decode(bytes))
    return payload && typeof payload === 'object' ? payload : null
  } catch {
    return null
  }
}

/**
 * @param {string | null} token
 * @returns {'read' | 'write' | 'admin' | null} the role claimed by the token, null without one
 */
export function roleOf(token) {
  if (!token) return null
  const payload = decodeJwtPayload(token)
  const role = payload && payload.role
  return typeof role === 'string' && ROLES.has(role) ? /** @type {any} */ (role) : null
}

/**
 * Adds the current token (if any) to a same-origin link so that navigation keeps access.
 * @param {string} href an origin-relative path
 */
export function withToken(href) {
  const token = currentToken()
  if (!token) return href
  const sep = href.includes('?') ? '&' : '?'
  return `${href}${sep}token=${encodeURIComponent(token)}`
}
