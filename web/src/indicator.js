// @ts-check
// The connection indicator's state and words, from what the page knows about its connection
// and its unsent edits. Pure: editor.js feeds it, tests/unit check it.

/** @typedef {'connecting' | 'syncing' | 'connected' | 'reconnecting' | 'offline' | 'stopped'} LinkState */
/** @typedef {'server' | 'saving' | 'local' | 'unsaved'} SavedState */

/** @type {Record<LinkState, string>} */
export const LINK_TEXT = {
  connecting: 'Connecting…',
  syncing: 'Syncing…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  stopped: 'Disconnected',
}

/** @type {Record<SavedState, string>} */
export const SAVED_TEXT = {
  server: '',
  saving: 'Saving in this browser…',
  local: 'Saved locally, not yet on the server',
  unsaved: 'Not yet on the server',
}

/**
 * @param {{state: LinkState, synced: boolean, online: boolean, stopped: boolean}} link
 * @returns {LinkState}
 */
export function linkState({ state, synced, online, stopped }) {
  if (stopped) return 'stopped'
  if (!online) return 'offline'
  if (state === 'syncing' && synced) return 'connected'
  return state
}

/**
 * Where this page's own edits are.
 * @param {{pending: boolean, persisted: boolean, persistence: boolean}} edits pending: some
 *   edit has not been sent over a synced connection; persisted: every edit is written to
 *   IndexedDB; persistence: the page keeps a local copy at all (false: private mode, read-only)
 * @returns {SavedState}
 */
export function savedState({ pending, persisted, persistence }) {
  if (!pending) return 'server'
  if (!persistence) return 'unsaved'
  return persisted ? 'local' : 'saving'
}
