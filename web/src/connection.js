// @ts-check
// The sync connection: a y-websocket provider for one document, and what the page knows about
// it (link state, the close policy of the last close, whether it stopped for good).
import { WebsocketProvider } from 'y-websocket'
import * as authProtocol from 'y-protocols/auth'

import { closePolicy } from './closecodes.js'
import { SYNC_PATH } from './fields.js'
import { encodeName } from './names.js'

/** @typedef {import('yjs').Doc} YDoc */
/** @typedef {import('./closecodes.js').ClosePolicy} ClosePolicy */
/** @typedef {import('./indicator.js').LinkState} LinkState */

const MESSAGE_AUTH = 2 // y-protocols message type for "permission denied"

/**
 * @typedef {object} Link
 * @property {LinkState} state
 * @property {boolean} everConnected
 * @property {boolean} synced
 * @property {boolean} online
 * @property {boolean} stopped
 * @property {ClosePolicy | null} policy the policy of the last close by the server
 * @property {string} reason the server's reason for it
 */

/**
 * Opens the connection. Listeners: `onChange()` after any change of the link; `onStop(policy,
 * code)` when the server closed it for good; `onDenied(reason)` when the server refused a write
 * with a y-protocols auth message.
 * @param {{name: string, ydoc: YDoc, token: string | null, onChange: () => void,
 *   onStop: (policy: ClosePolicy, code: number) => void, onDenied: (reason: string) => void}} options
 */
export function connect({ name, ydoc, token, onChange, onStop, onDenied }) {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws'
  /** @type {Link} */
  const link = {
    state: 'connecting',
    everConnected: false,
    synced: false,
    online: navigator.onLine,
    stopped: false,
    policy: null,
    reason: '',
  }
  let pauseTimer = 0

  const provider = new WebsocketProvider(`${scheme}://${window.location.host}${SYNC_PATH}`, encodeName(name), ydoc, {
    params: token ? { token } : {},
    // Each tab talks to the server itself: no cross-tab shortcut that would hide a broken link.
    disableBc: true,
    shouldReconnect: (event) => closePolicy(event.code, event.reason).action === 'retry',
  })

  provider.messageHandlers[MESSAGE_AUTH] = (_encoder, decoder) => {
    authProtocol.readAuthMessage(decoder, ydoc, (_doc, reason) => onDenied(reason))
  }

  provider.on('status', ({ status }) => {
    if (status === 'connected') {
      link.everConnected = true
      link.state = 'syncing'
    } else if (status === 'connecting') {
      link.state = link.everConnected || link.policy ? 'reconnecting' : 'connecting'
    } else {
      link.state = 'reconnecting'
      link.synced = false
    }
    onChange()
  })

  provider.on('sync', (/** @type {boolean} */ isSynced) => {
    link.synced = isSynced
    if (isSynced && provider.wsconnected) {
      link.state = 'connected'
      if (link.policy && link.policy.action !== 'stop') {
        link.policy = null
        link.reason = ''
      }
    }
    onChange()
  })

  provider.on('connection-close', (event) => {
    if (!event) return // closed by this page (disconnect or the silence watchdog)
    const policy = closePolicy(event.code, event.reason)
    link.policy = policy
    link.reason = event.reason || ''
    link.synced = false
    if (policy.action === 'stop') {
      link.stopped = true
      link.state = 'stopped'
      onStop(policy, event.code)
    } else {
      link.state = 'reconnecting'
    }
    onChange()
  })

  // Fired when shouldReconnect said no: for "pause" codes, come back after a while.
  provider.on('closed', () => {
    const policy = link.policy
    if (!policy || policy.action !== 'pause' || link.stopped) return
    clearTimeout(pauseTimer)
    const wait = (policy.pauseMs || 5000) * (1 + Math.random())
    pauseTimer = window.setTimeout(() => {
      if (!link.stopped) provider.connect()
    }, wait)
  })

  window.addEventListener('online', () => {
    link.online = true
    if (!link.stopped && provider.shouldConnect && provider.ws === null) provider.connect()
    onChange()
  })
  window.addEventListener('offline', () => {
    link.online = false
    onChange()
  })

  window.addEventListener('pagehide', () => {
    // Tell the others at once that this person left (the server also does when the socket ends).
    provider.awareness.setLocalState(null)
  })

  return { provider, link }
}
