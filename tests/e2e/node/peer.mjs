#!/usr/bin/env node
// A long-running Yjs peer for the end-to-end tests.
//
//   node peer.mjs --url ws://127.0.0.1:PORT/sync --room NAME [--params JSON]
//
// It connects an unmodified y-websocket `WebsocketProvider` (with `ws` as the WebSocket
// implementation) and is driven over stdio: one JSON command per line on stdin, one JSON reply
// per line on stdout ({"id", "ok": true, ...} or {"id", "ok": false, "error"}). Commands run
// concurrently, so a reply may overtake the reply to an earlier, still waiting command; match
// replies by id. Logs go to stderr only. The process exits when stdin closes or on "exit".

import * as readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

// ---------------------------------------------------------------------------------------------
// arguments

const parseArgs = (argv) => {
  const opts = { url: null, room: null, params: {} }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`)
      return argv[++i]
    }
    if (arg === '--url') opts.url = next()
    else if (arg === '--room') opts.room = next()
    else if (arg === '--params') opts.params = JSON.parse(next())
    else throw new Error(`unknown argument ${arg}`)
  }
  if (!opts.url || opts.room === null) {
    throw new Error('usage: peer.mjs --url ws://HOST:PORT/sync --room NAME [--params JSON]')
  }
  if (opts.params === null || typeof opts.params !== 'object' || Array.isArray(opts.params)) {
    throw new Error('--params must be a JSON object')
  }
  // y-websocket expects string values for the query string
  opts.params = Object.fromEntries(
    Object.entries(opts.params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])
  )
  return opts
}

const log = (...args) => {
  process.stderr.write(`[peer] ${args.map(String).join(' ')}\n`)
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  log(err.message)
  process.exit(2)
}

// ---------------------------------------------------------------------------------------------
// the peer

const doc = new Y.Doc()
const provider = new WebsocketProvider(opts.url, opts.room, doc, {
  WebSocketPolyfill: WebSocket,
  params: opts.params
})

const closeInfo = {
  lastClose: null, // last close event reported by the websocket: {code, reason, wasClean}
  closeCount: 0, // close events that came from the socket (not from provider.disconnect())
  terminalClose: null, // set when y-websocket gave up reconnecting ('closed' event, 4400-4499)
  errorCount: 0,
  lastError: null
}
// Listeners that wait for something to happen; each is re-checked on every relevant event.
const waiters = new Set()
const notify = () => {
  for (const w of Array.from(waiters)) w()
}

provider.on('connection-close', (event) => {
  if (event != null) {
    closeInfo.lastClose = {
      code: event.code ?? null,
      reason: event.reason == null ? '' : String(event.reason),
      wasClean: event.wasClean ?? null
    }
    closeInfo.closeCount++
    log(`connection closed: code=${event.code} reason=${JSON.stringify(event.reason)}`)
  }
  notify()
})
provider.on('closed', (info) => {
  closeInfo.terminalClose = { code: info.code, reason: info.reason }
  log(`provider gave up reconnecting: code=${info.code}`)
  notify()
})
provider.on('connection-error', (event) => {
  closeInfo.errorCount++
  closeInfo.lastError = event && event.message ? String(event.message) : String(event?.type)
  notify()
})
provider.on('status', notify)
provider.on('sync', notify)
doc.on('afterTransaction', notify)
provider.awareness.on('change', notify)

/**
 * Resolve with `check()`'s first non-undefined result, re-checked on every doc, provider or
 * awareness event; reject after `timeoutS` seconds.
 */
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
// helpers

const textField = (c) => doc.getText(c.field ?? 'text')
const mapField = (c) => doc.getMap(c.field ?? 'm')
const toB64 = (u8) => Buffer.from(u8).toString('base64')
const fromB64 = (s) => new Uint8Array(Buffer.from(String(s), 'base64'))

const requireInt = (c, key, dflt) => {
  const v = c[key] ?? dflt
  if (!Number.isInteger(v) || v < 0) throw new Error(`"${key}" must be a non-negative integer`)
  return v
}

// Small deterministic PRNG (linear congruential, 32 bit) so that a seed reproduces a run.
const makeRandom = (seed) => {
  let state = (seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/**
 * Guess the kind of a root type that was created by a remote update and never accessed here
 * (yjs keeps it as a plain AbstractType whose toJSON() is undefined).
 */
const inferKind = (type) => {
  if (type instanceof Y.XmlFragment) return 'xml'
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Array) return 'array'
  for (let item = type._start; item !== null; item = item.right) {
    const content = item.content
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat ||
        content instanceof Y.ContentEmbed) {
      return 'text'
    }
    if (content instanceof Y.ContentType) {
      const inner = content.type
      if (inner instanceof Y.XmlElement || inner instanceof Y.XmlText ||
          inner instanceof Y.XmlHook) {
        return 'xml'
      }
    }
  }
  if (type._start === null && type._map.size > 0) return 'map'
  return type._start === null ? 'map' : 'array'
}

const shareToJSON = (name, kind) => {
  switch (kind) {
    case 'text': return doc.getText(name).toString()
    case 'map': return doc.getMap(name).toJSON()
    case 'array': return doc.getArray(name).toJSON()
    case 'xml': return doc.getXmlFragment(name).toString()
    default: throw new Error(`unknown type kind ${JSON.stringify(kind)} for ${name}`)
  }
}

const docToJSON = (types) => {
  const out = {}
  const names = new Set([...doc.share.keys(), ...Object.keys(types ?? {})])
  for (const name of names) {
    const kind = (types ?? {})[name] ?? inferKind(doc.share.get(name))
    out[name] = shareToJSON(name, kind)
  }
  return out
}

const awarenessStates = () => {
  const states = {}
  for (const [clientID, state] of provider.awareness.getStates()) states[clientID] = state
  return states
}

const status = () => ({
  connected: provider.wsconnected,
  connecting: provider.wsconnecting,
  synced: provider.synced,
  should_connect: provider.shouldConnect,
  last_close: closeInfo.lastClose,
  close_count: closeInfo.closeCount,
  terminal_close: closeInfo.terminalClose,
  error_count: closeInfo.errorCount,
  last_error: closeInfo.lastError
})

const textCondition = (c) => {
  if (c.equals !== undefined) {
    return { test: (s) => s === c.equals, describe: `text == ${JSON.stringify(c.equals)}` }
  }
  if (c.length !== undefined) {
    return { test: (s) => s.length === c.length, describe: `text length == ${c.length}` }
  }
  if (c.min_length !== undefined) {
    return { test: (s) => s.length >= c.min_length, describe: `text length >= ${c.min_length}` }
  }
  if (c.contains !== undefined) {
    return { test: (s) => s.includes(c.contains), describe: `text containing ${c.contains}` }
  }
  throw new Error('wait_text needs "equals", "length", "min_length" or "contains"')
}

// ---------------------------------------------------------------------------------------------
// commands: each returns the reply fields (an object) or throws

const commands = {
  async wait_synced (c) {
    await waitFor(() => (provider.synced ? true : undefined), c.timeout,
      () => `sync (status ${JSON.stringify(status())})`)
    return { synced: true }
  },

  insert (c) {
    textField(c).insert(requireInt(c, 'index', 0), String(c.text ?? ''))
    return { text: textField(c).toString() }
  },

  // Inserts `text` at a random character boundary (never inside a surrogate pair, as an
  // editor's cursor never is), read and written in one step.
  insert_anywhere (c) {
    const ytext = textField(c)
    const s = ytext.toString()
    let index = Math.floor(Math.random() * (s.length + 1))
    const code = index < s.length ? s.charCodeAt(index) : 0
    if (code >= 0xdc00 && code <= 0xdfff) index--
    ytext.insert(index, String(c.text ?? ''))
    return { length: ytext.length }
  },

  delete (c) {
    textField(c).delete(requireInt(c, 'index', 0), requireInt(c, 'length', 1))
    return { text: textField(c).toString() }
  },

  // Types `text` one chunk per transaction. `at`: "end" (default), "random" (a random position
  // for every chunk) or an index where typing starts and continues like a cursor would.
  async type (c) {
    const ytext = textField(c)
    const str = String(c.text ?? '')
    const chunk = requireInt(c, 'chunk', 1) || 1
    const at = c.at ?? 'end'
    const delayMs = Number(c.delay_ms ?? 0)
    const random = makeRandom(c.seed)
    let cursor = typeof at === 'number' ? at : null
    let transactions = 0
    for (let i = 0; i < str.length; i += chunk) {
      const piece = str.slice(i, i + chunk)
      let index
      if (at === 'end') index = ytext.length
      else if (at === 'random') index = Math.floor(random() * (ytext.length + 1))
      else if (cursor !== null) index = Math.min(cursor, ytext.length)
      else throw new Error('"at" must be "end", "random" or an index')
      doc.transact(() => ytext.insert(index, piece))
      if (cursor !== null) cursor = index + piece.length
      transactions++
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
    return { text: ytext.toString(), transactions }
  },

  get_text (c) {
    return { text: textField(c).toString() }
  },

  async wait_text (c) {
    const ytext = textField(c)
    const cond = textCondition(c)
    // the doc-level afterTransaction hook re-checks; observing the text keeps it event-driven
    // even for changes that arrive in nested/remote transactions
    const observer = () => notify()
    ytext.observe(observer)
    try {
      const text = await waitFor(() => {
        const s = ytext.toString()
        return cond.test(s) ? s : undefined
      }, c.timeout, () => `${cond.describe}; text is ${JSON.stringify(ytext.toString())}`)
      return { text }
    } finally {
      ytext.unobserve(observer)
    }
  },

  map_set (c) {
    if (typeof c.key !== 'string') throw new Error('"key" must be a string')
    mapField(c).set(c.key, c.value === undefined ? null : c.value)
    return {}
  },

  map_delete (c) {
    if (typeof c.key !== 'string') throw new Error('"key" must be a string')
    mapField(c).delete(c.key)
    return {}
  },

  get_json (c) {
    return { json: docToJSON(c.types) }
  },

  state_update () {
    return { update: toB64(Y.encodeStateAsUpdate(doc)) }
  },

  state_update_v2 () {
    return { update: toB64(Y.encodeStateAsUpdateV2(doc)) }
  },

  state_vector () {
    return { state_vector: toB64(Y.encodeStateVector(doc)) }
  },

  apply_update (c) {
    const update = fromB64(c.update)
    if (c.v2) Y.applyUpdateV2(doc, update, 'nodepeer')
    else Y.applyUpdate(doc, update, 'nodepeer')
    return {}
  },

  // Sends raw bytes on the provider's current websocket (for protocol abuse tests).
  send_raw (c) {
    const ws = provider.ws
    if (!provider.wsconnected || ws === null || ws.readyState !== WebSocket.OPEN) {
      throw new Error('not connected')
    }
    if (c.text !== undefined) ws.send(String(c.text))
    else ws.send(fromB64(c.data))
    return {}
  },

  awareness_set (c) {
    provider.awareness.setLocalState(c.state === undefined ? {} : c.state)
    return {}
  },

  awareness_states () {
    return { states: awarenessStates() }
  },

  // Waits until there are `count` states (default 1) and, with `client` and `state`, until
  // that client's state is `state` (compared as JSON with sorted keys).
  async wait_awareness (c) {
    const n = requireInt(c, 'count', 1)
    const canonical = (value) => JSON.stringify(value, (key, v) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
        : v)
    const matches = () => c.client === undefined ||
      canonical(provider.awareness.getStates().get(c.client)) === canonical(c.state)
    const states = await waitFor(
      () => (provider.awareness.getStates().size === n && matches() ? awarenessStates() : undefined),
      c.timeout,
      () => `${n} awareness states${c.client === undefined ? '' : ` with ${c.client}: ${JSON.stringify(c.state)}`}; have ${JSON.stringify(awarenessStates())}`
    )
    return { states }
  },

  disconnect () {
    provider.disconnect()
    return status()
  },

  // Note (upstream y-websocket/y-protocols behaviour): disconnect() announces the local awareness
  // state as null without bumping its clock, and connect() re-sends it with that same clock, which
  // the other side ignores; so others see this peer again only after its state changes (e.g.
  // "awareness_set") or the 15 s awareness renewal.
  connect () {
    provider.connect()
    return status()
  },

  status () {
    return status()
  },

  // Waits until the socket has reported more than `after` close events (default 0), e.g. after
  // the server closed the connection with a code.
  async wait_close (c) {
    const after = requireInt(c, 'after', 0)
    await waitFor(() => (closeInfo.closeCount > after ? true : undefined), c.timeout,
      () => `a close event (status ${JSON.stringify(status())})`)
    return status()
  },

  client_id () {
    return { client_id: doc.clientID }
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
    provider.destroy()
    doc.destroy()
  } catch (err) {
    log(`error while shutting down: ${err && err.stack ? err.stack : err}`)
  }
  // let the closing frame go out before leaving
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
  const id = msg && typeof msg === 'object' ? msg.id ?? null : null
  const cmd = msg && typeof msg === 'object' ? msg.cmd : undefined
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
