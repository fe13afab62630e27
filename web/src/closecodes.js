// @ts-check
// What the page does when the server closes the sync connection with a given code.
//   action 'retry': keep reconnecting (y-websocket's backoff);
//   action 'pause': stop, wait pauseMs, then reconnect;
//   action 'stop':  stop for good (retrying cannot help) and make the editor read-only.
// discardLocal: the copy this browser keeps (IndexedDB) can never reach the server again (the
// document was deleted, or renamed: the editor then carries it to the new name first); it is
// dropped so that the next visit starts from the server's state.
// Every code the server sends (CloseCode in collab/errors.py) has an entry: tests/test_web_contracts.py.

/**
 * @typedef {{action: 'retry' | 'pause' | 'stop', message: string | null, pauseMs?: number,
 *   discardLocal?: boolean}} ClosePolicy
 */

const RELOAD = 'this editor sent data the server rejected; reload the page.'

/** @type {Record<number, ClosePolicy>} */
export const CLOSE_CODES = {
  1001: { action: 'retry', message: 'The server is restarting; reconnecting…' },
  1002: { action: 'stop', message: `Connection stopped: ${RELOAD}` },
  1003: { action: 'stop', message: `Connection stopped: ${RELOAD}` },
  1007: { action: 'stop', message: `Connection stopped: ${RELOAD}` },
  1008: {
    action: 'stop',
    message: 'Connection stopped: this page used more of one connection than the server allows. Reload the page.',
  },
  1009: {
    action: 'stop',
    message: 'Connection stopped: a change was too big for the server to accept. Reload the page; very large pastes may need to be split.',
  },
  1011: {
    action: 'retry',
    message: 'The server could not save to its storage; reconnecting… Your edits stay in this tab meanwhile.',
  },
  1013: { action: 'retry', message: 'The server is busy; trying again shortly…' },
  4400: {
    action: 'stop',
    message: 'This document name is not valid. Go back to the document list and pick another name.',
  },
  4401: { action: 'stop', message: 'Your access token is missing or expired; get a new link.' },
  4403: {
    action: 'stop',
    message: 'Permission denied: your link does not give access to this document. Ask its owner for a new link.',
  },
  4404: {
    action: 'stop',
    message: 'The server has no sync endpoint at this address. Reload the page; if it persists, the server may be misconfigured.',
  },
  4409: { action: 'stop', message: 'This document was renamed.', discardLocal: true },
  4410: { action: 'stop', message: 'This document was deleted.', discardLocal: true },
  4413: {
    action: 'stop',
    message: 'The server refused a change as too large (a very large paste, or the document is over its size limit). Download a copy to keep your work.',
  },
  4429: {
    action: 'stop',
    message: 'This page asked the server for the whole document too often. Reload the page in a minute.',
  },
  4503: {
    action: 'pause',
    pauseMs: 5000,
    message: 'The server is full right now; trying again in a few seconds…',
  },
}

/** How the server's 4409 reason starts; the new name follows (collab/hub/renames.py). */
const RENAMED_PREFIX = 'renamed to '

/**
 * The new name in the reason of a 4409 close (the document was renamed), or null when the
 * reason does not carry it (a name too long for a close reason).
 * @param {string} reason
 * @returns {string | null}
 */
export function renamedTo(reason) {
  if (!reason.startsWith(RENAMED_PREFIX)) return null
  return reason.slice(RENAMED_PREFIX.length) || null
}

/** The server's reason when an update carries content of a deleted document (collab/room.py). */
const DELETED_CONTENT = 'deleted document'

const REVIVES_DELETED = {
  action: /** @type {const} */ ('stop'),
  message: 'This document was deleted on the server, and the copy kept in this browser cannot be merged into a new one. Reload the page to start from the server’s state.',
  discardLocal: true,
}

/**
 * @param {number} code a WebSocket close code
 * @param {string} [reason] the close reason the server gave
 * @returns {ClosePolicy}
 */
export function closePolicy(code, reason = '') {
  if (code === 1007 && reason.includes(DELETED_CONTENT)) return REVIVES_DELETED
  const known = CLOSE_CODES[code]
  if (known) return known
  // 1000/1005/1006 and anything unknown: the connection dropped; keep trying.
  return { action: 'retry', message: null }
}
