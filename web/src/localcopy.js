// @ts-check
// The copy of a document this browser keeps (y-indexeddb), and which of this page's edits the
// server may not have yet. Edits made while the connection is down are written to IndexedDB,
// so they survive a closed tab or a browser restart and merge through the next sync step
// when the page opens again. While some edit is not on the server, closing the tab asks first.
//
// "On the server": sent over an open connection. The server commits an update before it relays
// it or answers anything that could contain it, and a connection that breaks first re-sends
// everything the server lacks in the next sync step 2, so an edit sent on a connection that
// then synced again (or stayed up) is on the server.
import { IndexeddbPersistence, clearDocument } from 'y-indexeddb'
import * as Y from 'yjs'

/** @typedef {import('yjs').Doc} YDoc */
/** @typedef {import('y-websocket').WebsocketProvider} WebsocketProvider */

/** IndexedDB database name of a document's local copy (one database per document and origin). */
export function localCopyName(/** @type {string} */ name) {
  return `collab:${name}`
}

/**
 * A document was renamed from the list: keep this browser's copy (if it has one) under the new
 * name, so that edits the server may lack go out when the new name is opened, and drop it under
 * the old one (where the server would refuse it).
 * @param {string} from
 * @param {string} to
 */
export async function moveLocalCopy(from, to) {
  if (typeof indexedDB === 'undefined') return
  const doc = new Y.Doc()
  const old = new IndexeddbPersistence(localCopyName(from), doc)
  await old.whenSynced
  if (doc.store.clients.size > 0) {
    const moved = new IndexeddbPersistence(localCopyName(to), doc)
    await moved.whenSynced // it has stored the whole state under the new name
    await moved.destroy()
  }
  await old.destroy()
  await clearDocument(localCopyName(from))
  doc.destroy()
}

/**
 * @param {{name: string, ydoc: YDoc, keep: boolean, onChange: () => void}} options keep: false
 *   for a read-only page (it has nothing to keep, and a stale copy would be sent as a write)
 */
export function createLocalCopy({ name, ydoc, keep, onChange }) {
  /** @type {IndexeddbPersistence | null} */
  let persistence = null
  if (keep && typeof indexedDB !== 'undefined') {
    try {
      persistence = new IndexeddbPersistence(localCopyName(name), ydoc)
    } catch {
      persistence = null // IndexedDB refused (some private modes): no local copy
    }
  }
  const edits = {
    /** some edit of this page was not sent over an open connection */
    pending: false,
    /** every edit is written to IndexedDB */
    persisted: true,
    persistence: persistence !== null,
  }
  /** @type {WebsocketProvider | null} */
  let provider = null
  let confirmRun = 0

  /** Waits until IndexedDB holds every update y-indexeddb queued so far, then says so. */
  function confirmPersisted() {
    const db = persistence && persistence.db
    if (!db) return
    const run = ++confirmRun
    // Transactions on one store run in order: when this one completes, the earlier writes have.
    const tx = db.transaction(['updates'], 'readonly')
    tx.oncomplete = () => {
      if (run !== confirmRun) return
      edits.persisted = true
      onChange()
    }
  }

  /**
   * @param {Uint8Array} _update
   * @param {unknown} origin
   */
  function onUpdate(_update, origin) {
    if (provider === null || origin === provider || origin === persistence) return
    if (!provider.wsconnected) {
      edits.pending = true
      updateUnloadGuard()
    }
    if (persistence) {
      edits.persisted = false
      confirmPersisted()
    }
    onChange()
  }
  ydoc.on('update', onUpdate)

  if (persistence) {
    const store = persistence
    store.on('synced', () => {
      // What the last visit kept may hold edits the server never got: they go out in the next
      // sync step 2 (or now, as an update, when the connection is already up).
      const hasContent = ydoc.store.clients.size > 0
      if (hasContent && provider !== null && !provider.wsconnected) edits.pending = true
      updateUnloadGuard()
      onChange()
    })
  }

  /** @param {BeforeUnloadEvent} event */
  function beforeUnload(event) {
    if (!unsynced()) return
    event.preventDefault()
    event.returnValue = '' // older browsers need it set
  }
  let guarded = false
  function updateUnloadGuard() {
    const want = edits.pending
    if (want === guarded) return
    guarded = want
    if (want) window.addEventListener('beforeunload', beforeUnload)
    else window.removeEventListener('beforeunload', beforeUnload)
  }

  function unsynced() {
    const ws = provider && provider.ws
    return edits.pending || (ws !== null && ws.bufferedAmount > 0)
  }

  return {
    edits,
    /**
     * Starts following the connection: a sync after reconnecting delivers the pending edits.
     * @param {WebsocketProvider} p
     */
    follow(p) {
      provider = p
      p.on('sync', (/** @type {boolean} */ synced) => {
        if (synced && p.wsconnected && edits.pending) {
          edits.pending = false
          updateUnloadGuard()
          onChange()
        }
      })
    },
    /**
     * The server will never take this copy (the document was deleted): drop it. Resolves once
     * the database is deleted (y-indexeddb's clearData does not wait for that).
     */
    async discard() {
      edits.pending = false
      updateUnloadGuard()
      if (!persistence) return
      await persistence.destroy()
      await clearDocument(localCopyName(name))
    },
    /**
     * The document was renamed to `to`: keep this copy under the new name (so that what the
     * server may lack goes out from the page opened there), then drop it here.
     * @param {string} to
     */
    async moveTo(to) {
      if (persistence) {
        const moved = new IndexeddbPersistence(localCopyName(to), ydoc)
        await moved.whenSynced // it has stored the whole Y.Doc's state under the new name
        await moved.destroy()
      }
      await this.discard()
    },
  }
}
