#!/usr/bin/env node
// Hocuspocus peers for the end-to-end tests: unmodified `HocuspocusProvider`s sharing one
// `HocuspocusProviderWebsocket` (one socket, many documents), from @hocuspocus/provider 4.x or,
// with --provider 3, from 3.x (the npm alias hocuspocus-provider-v3).
//
//   node hocus.mjs --url ws://127.0.0.1:PORT/hocuspocus [--provider 3|4]
//                  [--docs '[{"name": "a", "token": "..."}]'] [--socket JSON]
//
// Driven over stdio like peer.mjs: one JSON command per line on stdin, one JSON reply per line on
// stdout, matched by id. Every document command takes "doc" (default: the first document opened).
// The process exits when stdin closes or on "exit".

import * as fs from 'node:fs'
import * as readline from 'node:readline'
import * as zlib from 'node:zlib'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as v4 from '@hocuspocus/provider'
import * as v3 from 'hocuspocus-provider-v3'

const log = (...args) => process.stderr.write(`[hocus] ${args.map(String).join(' ')}\n`)

const parseArgs = (argv) => {
  const opts = { url: null, provider: '4', docs: [], socket: {} }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`)
      return argv[++i]
    }
    if (arg === '--url') opts.url = next()
    else if (arg === '--provider') opts.provider = next()
    else if (arg === '--docs') opts.docs = JSON.parse(next())
    else if (arg === '--socket') opts.socket = JSON.parse(next())
    else throw new Error(`unknown argument ${arg}`)
  }
  if (!opts.url) throw new Error('usage: hocus.mjs --url ws://HOST:PORT/hocuspocus [...]')
  if (!['3', '4'].includes(opts.provider)) throw new Error('--provider must be 3 or 4')
  return opts
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  log(err.message)
  process.exit(2)
}
const lib = opts.provider === '3' ? v3 : v4

// ---------------------------------------------------------------------------------------------
// waiting on events

const waiters = new Set()
const notify = () => {
  for (const w of Array.from(waiters)) w()
}

const waitFor = (check, timeoutS, what) => new Promise((resolve, reject) => {
  const initial = check()
  if (initial !== undefined) {
    resolve(initial)
    return
  }
  let timer = null
  const waiter = () => {
    let result
    try {
      result = check()
    } catch (err) {
      waiters.delete(waiter)
      clearTimeout(timer)
      reject(err)
      return
    }
    if (result !== undefined) {
      waiters.delete(waiter)
      clearTimeout(timer)
      resolve(result)
    }
  }
  waiters.add(waiter)
  timer = setTimeout(() => {
    waiters.delete(waiter)
    reject(new Error(`timeout after ${timeoutS}s waiting for ${what()}`))
  }, Math.max(0, Number(timeoutS ?? 10)) * 1000)
})

// ---------------------------------------------------------------------------------------------
// the shared socket

const socketInfo = { closes: [], opens: 0 }
const socket = new lib.HocuspocusProviderWebsocket({
  url: opts.url,
  WebSocketPolyfill: WebSocket,
  ...opts.socket,
  onOpen: () => {
    socketInfo.opens++
    notify()
  },
  onClose: ({ event }) => {
    socketInfo.closes.push({ code: event?.code ?? null, reason: String(event?.reason ?? '') })
    log(`socket closed: code=${event?.code} reason=${JSON.stringify(String(event?.reason ?? ''))}`)
    notify()
  },
  onStatus: notify
})

// ---------------------------------------------------------------------------------------------
// documents: one provider and Y.Doc each

const documents = new Map() // key (default: the name) -> {provider, doc, events}
let firstName = null

// `key` names the provider in commands (two providers of one document need two keys);
// `session` turns on 4.x's sessionAwareness (its address becomes name + "\0" + session id).
const openDocument = (name, token, key = name, session = false) => {
  if (documents.has(key)) throw new Error(`document ${key} is already open`)
  const doc = new Y.Doc()
  const events = {
    authenticated: null, // scope
    denied: [], // PermissionDenied reasons
    closes: [], // close events the provider reported (socket closes and server Close messages)
    stateless: [],
    synced: 0
  }
  const provider = new lib.HocuspocusProvider({
    websocketProvider: socket,
    name,
    document: doc,
    token: token ?? null,
    sessionAwareness: session,
    onAuthenticated: ({ scope }) => {
      events.authenticated = scope
      notify()
    },
    onAuthenticationFailed: ({ reason }) => {
      events.denied.push(reason)
      notify()
    },
    onClose: ({ event }) => {
      events.closes.push({ code: event?.code ?? null, reason: String(event?.reason ?? '') })
      notify()
    },
    onStateless: ({ payload }) => {
      events.stateless.push(payload)
      notify()
    },
    onSynced: () => {
      events.synced++
      notify()
    },
    onUnsyncedChanges: notify,
    onAwarenessChange: notify
  })
  if (!provider.isAttached) provider.attach()
  doc.on('afterTransaction', notify)
  documents.set(key, { provider, doc, events })
  if (firstName === null) firstName = key
  return documents.get(key)
}

for (const d of opts.docs) openDocument(d.name, d.token, d.key ?? d.name, d.session ?? false)

const entry = (c) => {
  const name = c.doc ?? firstName
  const found = documents.get(name)
  if (!found) throw new Error(`no open document ${JSON.stringify(name)}`)
  return found
}

const toB64 = (u8) => Buffer.from(u8).toString('base64')
const fromB64 = (s) => new Uint8Array(Buffer.from(String(s), 'base64'))
const text = (c) => entry(c).doc.getText(c.field ?? 'text')

const docStatus = (e) => ({
  synced: e.provider.synced ?? e.provider.isSynced,
  authenticated: e.events.authenticated,
  is_authenticated: e.provider.isAuthenticated,
  denied: e.events.denied,
  closes: e.events.closes,
  unsynced: e.provider.unsyncedChanges,
  stateless: e.events.stateless
})

const status = () => ({
  socket: socket.status,
  opens: socketInfo.opens,
  closes: socketInfo.closes,
  documents: Object.fromEntries([...documents].map(([n, e]) => [n, docStatus(e)]))
})

const awarenessStates = (e) => {
  const states = {}
  for (const [clientID, state] of e.provider.awareness.getStates()) states[clientID] = state
  return states
}

// ---------------------------------------------------------------------------------------------
// commands: each returns the reply fields (an object) or throws

const commands = {
  open (c) {
    openDocument(c.name ?? c.doc, c.token, c.doc, c.session ?? false)
    return {}
  },

  // Destroys the document's provider: it sends Close for this document; the socket stays.
  close_doc (c) {
    const e = entry(c)
    e.provider.destroy()
    documents.delete(c.doc ?? firstName)
    return {}
  },

  async wait_synced (c) {
    const e = entry(c)
    await waitFor(() => (e.provider.synced ? true : undefined), c.timeout,
      () => `sync (${JSON.stringify(docStatus(e))})`)
    return { synced: true }
  },

  // Waits until the server acknowledged every update this provider sent (SyncStatus).
  async wait_saved (c) {
    const e = entry(c)
    await waitFor(() => (e.provider.unsyncedChanges === 0 ? true : undefined), c.timeout,
      () => `no unsynced changes (${JSON.stringify(docStatus(e))})`)
    return { unsynced: 0 }
  },

  async wait_authenticated (c) {
    const e = entry(c)
    const scope = await waitFor(() => e.events.authenticated ?? undefined, c.timeout,
      () => `Authenticated (${JSON.stringify(docStatus(e))})`)
    return { scope }
  },

  async wait_denied (c) {
    const e = entry(c)
    const reason = await waitFor(() => e.events.denied[0], c.timeout,
      () => `PermissionDenied (${JSON.stringify(docStatus(e))})`)
    return { reason }
  },

  // Waits for more than `after` close events reported to the document's provider.
  async wait_doc_close (c) {
    const e = entry(c)
    const after = c.after ?? 0
    await waitFor(() => (e.events.closes.length > after ? true : undefined), c.timeout,
      () => `a close event (${JSON.stringify(docStatus(e))})`)
    return { closes: e.events.closes }
  },

  // Waits for more than `after` closes of the shared socket.
  async wait_close (c) {
    const after = c.after ?? 0
    await waitFor(() => (socketInfo.closes.length > after ? true : undefined), c.timeout,
      () => `a socket close (${JSON.stringify(status())})`)
    return status()
  },

  async wait_opens (c) {
    await waitFor(() => (socketInfo.opens >= c.count ? true : undefined), c.timeout,
      () => `${c.count} socket opens (${JSON.stringify(status())})`)
    return status()
  },

  status () {
    return status()
  },

  insert (c) {
    text(c).insert(c.index ?? 0, String(c.text ?? ''))
    return { text: text(c).toString() }
  },

  delete (c) {
    text(c).delete(c.index ?? 0, c.length ?? 1)
    return { text: text(c).toString() }
  },

  get_text (c) {
    return { text: text(c).toString() }
  },

  async wait_text (c) {
    const t = text(c)
    const test = c.equals !== undefined
      ? (s) => s === c.equals
      : (s) => s.includes(c.contains)
    const found = await waitFor(() => (test(t.toString()) ? t.toString() : undefined), c.timeout,
      () => `text ${c.equals !== undefined ? '==' : 'containing'} ${JSON.stringify(c.equals ?? c.contains)}; text is ${JSON.stringify(t.toString())}`)
    return { text: found }
  },

  state_update (c) {
    return { update: toB64(Y.encodeStateAsUpdate(entry(c).doc)) }
  },

  apply_update (c) {
    Y.applyUpdate(entry(c).doc, fromB64(c.update), 'test')
    return {}
  },

  // Replays an editing trace (a gzipped JSON file of txns of [position, deleted, inserted]
  // patches, as in josephg/editing-traces) into the document, one transaction per txn.
  replay_trace (c) {
    const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(c.path)).toString())
    const txns = c.limit == null ? trace.txns : trace.txns.slice(0, c.limit)
    const e = entry(c)
    const t = e.doc.getText(c.field ?? 'text')
    for (const txn of txns) {
      e.doc.transact(() => {
        for (const [pos, del, ins] of txn.patches) {
          if (del > 0) t.delete(pos, del)
          if (ins) t.insert(pos, ins)
        }
      })
    }
    return { transactions: txns.length, length: t.length }
  },

  awareness_set (c) {
    entry(c).provider.awareness.setLocalState(c.state ?? {})
    return {}
  },

  awareness_states (c) {
    return { states: awarenessStates(entry(c)) }
  },

  async wait_awareness (c) {
    const e = entry(c)
    const states = await waitFor(
      () => (e.provider.awareness.getStates().size === c.count ? awarenessStates(e) : undefined),
      c.timeout,
      () => `${c.count} awareness states; have ${JSON.stringify(awarenessStates(e))}`
    )
    return { states }
  },

  send_stateless (c) {
    entry(c).provider.sendStateless(String(c.payload))
    return {}
  },

  async wait_stateless (c) {
    const e = entry(c)
    await waitFor(() => (e.events.stateless.length >= (c.count ?? 1) ? true : undefined),
      c.timeout, () => `${c.count ?? 1} stateless messages (${JSON.stringify(docStatus(e))})`)
    return { stateless: e.events.stateless }
  },

  // Sends raw bytes (base64 `data`) or a text frame (`text`) on the shared socket.
  send_raw (c) {
    const ws = socket.webSocket
    if (ws === null || ws.readyState !== WebSocket.OPEN) throw new Error('not connected')
    if (c.text !== undefined) ws.send(String(c.text))
    else ws.send(fromB64(c.data))
    return {}
  },

  disconnect () {
    socket.disconnect()
    return {}
  },

  connect () {
    socket.connect()
    return {}
  },

  client_id (c) {
    if (documents.size === 0) return { client_id: null }
    return { client_id: entry(c).doc.clientID }
  }
}

// ---------------------------------------------------------------------------------------------
// stdio loop

const reply = (obj) => new Promise((resolve) => {
  process.stdout.write(JSON.stringify(obj) + '\n', () => resolve())
})

let exiting = false
const shutdown = async (code) => {
  if (exiting) return
  exiting = true
  try {
    for (const e of documents.values()) e.provider.destroy()
    socket.destroy()
  } catch (err) {
    log(`error while shutting down: ${err && err.stack ? err.stack : err}`)
  }
  setTimeout(() => process.exit(code), 50)
}

const handle = async (line) => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch (err) {
    await reply({ id: null, ok: false, error: `invalid JSON: ${err.message}` })
    return
  }
  const id = msg?.id ?? null
  const cmd = msg?.cmd
  if (cmd === 'exit') {
    await reply({ id, ok: true })
    await shutdown(0)
    return
  }
  const fn = Object.prototype.hasOwnProperty.call(commands, cmd) ? commands[cmd] : null
  if (fn === null) {
    await reply({ id, ok: false, error: `unknown command ${JSON.stringify(cmd)}` })
    return
  }
  try {
    const result = await fn(msg)
    await reply({ ...result, id, ok: true })
  } catch (err) {
    await reply({ id, ok: false, error: err && err.message ? err.message : String(err) })
  }
}

process.on('uncaughtException', (err) => {
  log(`uncaught exception: ${err && err.stack ? err.stack : err}`)
  shutdown(1)
})
process.on('unhandledRejection', (err) => {
  log(`unhandled rejection: ${err && err.stack ? err.stack : err}`)
})

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim() === '') return
  handle(line)
})
rl.on('close', () => shutdown(0))
