// The editor page: Tiptap bound to the room through y-websocket, with carets, presence, a
// connection indicator, plain-words errors for the server's close codes, and exports.
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as authProtocol from 'y-protocols/auth'

import { downloadExport } from './api.js'
import { historyPanel } from './history.js'
import { currentToken, roleOf, withToken } from './auth.js'
import { closePolicy } from './closecodes.js'
import { h } from './dom.js'
import { FRAGMENT_FIELD, SYNC_PATH } from './fields.js'
import { encodeName } from './names.js'
import { loadUser, saveName } from './user.js'

const MESSAGE_AUTH = 2 // y-protocols message type for "permission denied"
const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)

/** Turns Tiptap's "Mod-Shift-8" into aria-keyshortcuts and a readable hint. */
function shortcut(keys) {
  const parts = keys.split('-')
  const aria = parts.map((p) => (p === 'Mod' ? (IS_MAC ? 'Meta' : 'Control') : p)).join('+')
  const names = { Mod: IS_MAC ? '⌘' : 'Ctrl', Shift: 'Shift', Alt: IS_MAC ? '⌥' : 'Alt' }
  const text = parts.map((p) => names[p] || p.toUpperCase()).join('+')
  return { aria, text }
}

/** The toolbar, in order; null is a separator. Shortcuts are Tiptap's defaults. */
const TOOLS = [
  { id: 'heading1', text: 'H1', label: 'Heading 1', keys: 'Mod-Alt-1',
    run: (c) => c.toggleHeading({ level: 1 }), active: (e) => e.isActive('heading', { level: 1 }) },
  { id: 'heading2', text: 'H2', label: 'Heading 2', keys: 'Mod-Alt-2',
    run: (c) => c.toggleHeading({ level: 2 }), active: (e) => e.isActive('heading', { level: 2 }) },
  { id: 'heading3', text: 'H3', label: 'Heading 3', keys: 'Mod-Alt-3',
    run: (c) => c.toggleHeading({ level: 3 }), active: (e) => e.isActive('heading', { level: 3 }) },
  null,
  { id: 'bold', text: 'B', label: 'Bold', keys: 'Mod-b',
    run: (c) => c.toggleBold(), active: (e) => e.isActive('bold') },
  { id: 'italic', text: 'I', label: 'Italic', keys: 'Mod-i',
    run: (c) => c.toggleItalic(), active: (e) => e.isActive('italic') },
  { id: 'strike', text: 'S', label: 'Strikethrough', keys: 'Mod-Shift-s',
    run: (c) => c.toggleStrike(), active: (e) => e.isActive('strike') },
  { id: 'code', text: '</>', label: 'Inline code', keys: 'Mod-e',
    run: (c) => c.toggleCode(), active: (e) => e.isActive('code') },
  null,
  { id: 'bulletList', text: '• List', label: 'Bulleted list', keys: 'Mod-Shift-8',
    run: (c) => c.toggleBulletList(), active: (e) => e.isActive('bulletList') },
  { id: 'orderedList', text: '1. List', label: 'Numbered list', keys: 'Mod-Shift-7',
    run: (c) => c.toggleOrderedList(), active: (e) => e.isActive('orderedList') },
  { id: 'blockquote', text: '❝ Quote', label: 'Quote', keys: 'Mod-Shift-b',
    run: (c) => c.toggleBlockquote(), active: (e) => e.isActive('blockquote') },
  { id: 'codeBlock', text: '{ } Code', label: 'Code block', keys: 'Mod-Alt-c',
    run: (c) => c.toggleCodeBlock(), active: (e) => e.isActive('codeBlock') },
  null,
  { id: 'undo', text: '↶', label: 'Undo', keys: 'Mod-z', run: (c) => c.undo(), can: (c) => c.undo() },
  { id: 'redo', text: '↷', label: 'Redo', keys: 'Mod-Shift-z', run: (c) => c.redo(), can: (c) => c.redo() },
]

const STATUS_TEXT = {
  connecting: 'Connecting…',
  syncing: 'Syncing…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  stopped: 'Disconnected',
}

/**
 * @param {HTMLElement} main
 * @param {string} name the document name (decoded)
 */
export function renderEditor(main, name) {
  document.title = `${name} · collab`
  const token = currentToken()
  const readOnly = roleOf(token) === 'read'
  const user = loadUser()

  // ---- page skeleton -------------------------------------------------------------------
  const statusDot = h('span', { class: 'status-dot', 'aria-hidden': 'true' })
  const statusText = h('span', { class: 'status-text' }, STATUS_TEXT.connecting)
  const status = h('p', { class: 'status', id: 'connection-status', role: 'status', 'data-state': 'connecting' },
    statusDot, statusText)
  const notice = h('p', { class: 'notice', id: 'connection-notice', 'aria-live': 'polite', hidden: true })
  const alertBox = h('div', { class: 'alert alert-error', id: 'connection-alert', role: 'alert', hidden: true })
  const readOnlyBadge = h('span', { class: 'badge badge-readonly', id: 'readonly-badge', hidden: !readOnly },
    'Read-only')
  const readOnlyHint = readOnly
    ? h('p', { class: 'readonly-hint' }, 'Your link lets you read this document and see who is here, but not edit it.')
    : null
  const peopleCount = h('span', { class: 'people-count' })

  const exportError = h('p', { class: 'alert alert-error small', role: 'alert', hidden: true })
  const exportButtons = ['markdown', 'html'].map((format) => {
    const label = format === 'markdown' ? 'Markdown' : 'HTML'
    const button = h('button', {
      type: 'button', class: 'button small', 'data-export': format,
      'aria-label': `Download as ${label}`,
    }, label)
    button.addEventListener('click', async () => {
      button.disabled = true
      exportError.hidden = true
      try {
        await downloadExport(name, format)
      } catch (error) {
        exportError.textContent = `Could not download the ${label} file. ${error.message}`
        exportError.hidden = false
      } finally {
        button.disabled = false
      }
    })
    return button
  })

  const toolButtons = new Map()
  const toolbar = h('div', {
    class: 'toolbar', role: 'toolbar', 'aria-label': 'Formatting', 'aria-controls': 'editor',
  })
  for (const tool of TOOLS) {
    if (!tool) {
      toolbar.append(h('span', { class: 'toolbar-sep', 'aria-hidden': 'true' }))
      continue
    }
    const keys = shortcut(tool.keys)
    const button = h('button', {
      type: 'button',
      class: `tool tool-${tool.id}`,
      'data-tool': tool.id,
      'aria-keyshortcuts': keys.aria,
      'aria-pressed': tool.active ? 'false' : null,
      title: `${tool.label} (${keys.text})`,
    },
    // The short glyph is for the eye; the accessible name is the plain label.
    h('span', { 'aria-hidden': 'true' }, tool.text),
    h('span', { class: 'visually-hidden' }, tool.label))
    // Keep the editor's selection: act on mousedown without moving focus.
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', () => {
      if (!editor || !editor.isEditable) return
      tool.run(editor.chain().focus()).run()
    })
    toolButtons.set(tool, button)
    toolbar.append(button)
  }

  // Toolbar keyboard pattern: one Tab stop; arrow keys, Home and End move between buttons.
  let rovingIndex = 0
  function focusableTools() {
    return [...toolButtons.values()].filter((b) => !b.disabled)
  }
  function updateRoving() {
    const buttons = [...toolButtons.values()]
    const enabled = focusableTools()
    if (enabled.length === 0) return
    const current = buttons[rovingIndex]
    const target = current && !current.disabled ? current : enabled[0]
    for (const b of buttons) b.tabIndex = b === target ? 0 : -1
  }
  toolbar.addEventListener('keydown', (event) => {
    const enabled = focusableTools()
    const index = enabled.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement))
    if (index < 0 || enabled.length === 0) return
    let next = -1
    if (event.key === 'ArrowRight') next = (index + 1) % enabled.length
    else if (event.key === 'ArrowLeft') next = (index - 1 + enabled.length) % enabled.length
    else if (event.key === 'Home') next = 0
    else if (event.key === 'End') next = enabled.length - 1
    if (next < 0) return
    event.preventDefault()
    rovingIndex = [...toolButtons.values()].indexOf(enabled[next])
    updateRoving()
    enabled[next].focus()
  })
  toolbar.addEventListener('focusin', (event) => {
    const index = [...toolButtons.values()].indexOf(/** @type {any} */ (event.target))
    if (index >= 0) {
      rovingIndex = index
      updateRoving()
    }
  })

  const surface = h('div', { class: 'editor-surface', id: 'editor' })

  const nameInput = h('input', {
    id: 'user-name', type: 'text', maxlength: '40', autocomplete: 'nickname', value: user.name,
  })
  const presenceList = h('ul', { class: 'presence-list', id: 'presence-list' })
  const presenceHeading = h('h2', { id: 'presence-heading', class: 'section-title' }, 'Here now')
  const aside = h('aside', { class: 'presence', 'aria-labelledby': 'presence-heading' },
    presenceHeading,
    presenceList,
    h('div', { class: 'name-field' },
      h('label', { for: 'user-name' }, 'Your name'),
      h('div', { class: 'input-row' },
        h('span', { class: 'swatch', style: `background:${user.color}`, 'aria-hidden': 'true' }),
        nameInput)),
  )

  const history = historyPanel({ name, readOnly })

  main.replaceChildren(
    h('div', { class: 'doc-head' },
      h('p', { class: 'crumbs' }, h('a', { href: withToken('/') }, '← All documents')),
      h('div', { class: 'doc-title-row' },
        h('h1', { class: 'doc-title', id: 'doc-title' }, name),
        readOnlyBadge),
      readOnlyHint,
      h('div', { class: 'doc-meta' },
        status,
        peopleCount,
        h('div', { class: 'export', role: 'group', 'aria-label': 'Download' },
          h('span', { class: 'export-label', 'aria-hidden': 'true' }, 'Download:'),
          ...exportButtons),
        history.button),
      notice,
      alertBox,
      exportError,
      history.panel),
    h('div', { class: 'editor-layout' },
      h('div', { class: 'editor-column' },
        toolbar,
        surface),
      aside),
  )

  // ---- Yjs + provider --------------------------------------------------------------------
  const ydoc = new Y.Doc()
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws'
  const conn = {
    state: 'connecting',
    everConnected: false,
    synced: false,
    online: navigator.onLine,
    stopped: false,
    /** @type {ReturnType<typeof closePolicy> | null} */
    policy: null,
    reason: '',
    pauseTimer: 0,
  }

  const provider = new WebsocketProvider(`${scheme}://${window.location.host}${SYNC_PATH}`, encodeName(name), ydoc, {
    params: token ? { token } : {},
    // Each tab talks to the server itself: no cross-tab shortcut that would hide a broken link.
    disableBc: true,
    shouldReconnect: (event) => closePolicy(event.code).action === 'retry',
  })

  // The server may answer with a y-protocols "permission denied" message (e.g. a write from a
  // read-only link): say so, and stop editing.
  provider.messageHandlers[MESSAGE_AUTH] = (_encoder, decoder, _provider) => {
    authProtocol.readAuthMessage(decoder, ydoc, (_doc, reason) => {
      showAlert(`Permission denied: the server refused a change${reason ? ` (${reason})` : ''}. Your link may not allow editing.`, { reload: true })
      setEditing(false)
    })
  }

  provider.on('status', ({ status: s }) => {
    if (s === 'connected') {
      conn.everConnected = true
      conn.state = 'syncing'
    } else if (s === 'connecting') {
      conn.state = conn.everConnected || conn.policy ? 'reconnecting' : 'connecting'
    } else {
      conn.state = 'reconnecting'
      conn.synced = false
    }
    render()
  })

  provider.on('sync', (isSynced) => {
    conn.synced = isSynced
    if (isSynced && provider.wsconnected) {
      conn.state = 'connected'
      if (conn.policy && conn.policy.action !== 'stop') {
        conn.policy = null
        conn.reason = ''
      }
    }
    render()
  })

  provider.on('connection-close', (event) => {
    if (!event) return // closed by this page (disconnect or the silence watchdog)
    const policy = closePolicy(event.code)
    conn.policy = policy
    conn.reason = event.reason || ''
    conn.synced = false
    if (policy.action === 'stop') {
      conn.stopped = true
      conn.state = 'stopped'
      showAlert(policy.message, { reload: event.code < 4000 })
      setEditing(false)
    } else {
      conn.state = 'reconnecting'
    }
    render()
  })

  // Fired when shouldReconnect said no: for "pause" codes, come back after a while.
  provider.on('closed', () => {
    const policy = conn.policy
    if (!policy || policy.action !== 'pause' || conn.stopped) return
    clearTimeout(conn.pauseTimer)
    const wait = (policy.pauseMs || 5000) * (1 + Math.random())
    conn.pauseTimer = window.setTimeout(() => {
      if (!conn.stopped) provider.connect()
    }, wait)
  })

  window.addEventListener('online', () => {
    conn.online = true
    if (!conn.stopped && provider.shouldConnect && provider.ws === null) provider.connect()
    render()
  })
  window.addEventListener('offline', () => {
    conn.online = false
    render()
  })

  // ---- editor ------------------------------------------------------------------------------
  /** @type {Editor | null} */
  let editor = null
  let editingAllowed = !readOnly

  editor = new Editor({
    element: surface,
    editable: editingAllowed,
    extensions: [
      StarterKit.configure({
        undoRedo: false, // Collaboration brings its own Yjs-aware undo/redo
        underline: false, // no Markdown equivalent; keep exports faithful
        link: { openOnClick: false, autolink: true, linkOnPaste: true },
      }),
      Collaboration.configure({ document: ydoc, field: FRAGMENT_FIELD }),
      CollaborationCaret.configure({
        provider,
        user: { name: user.name, color: user.color },
        selectionRender: (u) =>
          /^#[0-9a-fA-F]{6}$/.test(u.color)
            ? { class: 'collaboration-carets__selection', style: `background-color: ${u.color}33` }
            : {},
      }),
    ],
    editorProps: {
      attributes: {
        class: 'prose',
        role: 'textbox',
        'aria-multiline': 'true',
        'aria-label': `Text of ${name}`,
        'aria-readonly': readOnly ? 'true' : 'false',
        spellcheck: 'true',
      },
    },
    onTransaction: () => updateToolbar(),
    onSelectionUpdate: () => updateToolbar(),
  })

  function setEditing(allowed) {
    editingAllowed = allowed && !readOnly
    if (editor) {
      editor.setEditable(editingAllowed)
      editor.view.dom.setAttribute('aria-readonly', editingAllowed ? 'false' : 'true')
    }
    updateToolbar()
  }

  function updateToolbar() {
    if (!editor) return
    for (const [tool, button] of toolButtons) {
      let enabled = editingAllowed
      if (enabled && tool.can) {
        try {
          enabled = tool.can(editor.can())
        } catch {
          enabled = false
        }
      }
      button.disabled = !enabled
      if (tool.active) button.setAttribute('aria-pressed', tool.active(editor) ? 'true' : 'false')
    }
    updateRoving()
  }

  // ---- presence ----------------------------------------------------------------------------
  function renderPresence() {
    const states = provider.awareness.getStates()
    const people = []
    for (const [clientId, state] of states) {
      const u = state && state.user
      if (!u || typeof u.name !== 'string') continue
      people.push({ clientId, name: u.name, color: u.color, self: clientId === ydoc.clientID })
    }
    people.sort((a, b) => (a.self === b.self ? a.name.localeCompare(b.name) : a.self ? -1 : 1))
    presenceList.replaceChildren(
      ...people.map((p) =>
        h('li', { class: 'person', 'data-client': String(p.clientId) },
          h('span', {
            class: 'swatch',
            style: /^#[0-9a-fA-F]{6}$/.test(p.color) ? `background:${p.color}` : null,
            'aria-hidden': 'true',
          }),
          h('span', { class: 'person-name' }, p.name),
          p.self ? h('span', { class: 'you' }, '(you)') : null)),
    )
    const n = people.length
    presenceHeading.textContent = `Here now (${n})`
    peopleCount.textContent = n === 1 ? 'Only you here' : `${n} people here`
  }
  provider.awareness.on('change', renderPresence)
  renderPresence()

  let nameTimer = 0
  nameInput.addEventListener('input', () => {
    const value = nameInput.value.trim()
    if (!value) return
    clearTimeout(nameTimer)
    nameTimer = window.setTimeout(() => saveName(value), 300)
    editor?.commands.updateUser({ name: value, color: user.color })
    renderPresence()
  })
  nameInput.addEventListener('change', () => {
    if (!nameInput.value.trim()) nameInput.value = loadUser().name
  })

  // ---- connection indicator -----------------------------------------------------------------
  function showAlert(message, { reload = false } = {}) {
    const actions = h('p', { class: 'alert-actions' })
    if (reload) {
      actions.append(h('button', { type: 'button', class: 'button small', onclick: () => window.location.reload() },
        'Reload page'))
    }
    actions.append(h('a', { href: withToken('/') }, 'Back to documents'))
    alertBox.replaceChildren(h('p', { class: 'alert-message' }, message))
    if (conn.reason) alertBox.append(h('p', { class: 'detail' }, `Server said: “${conn.reason}”`))
    alertBox.append(actions)
    alertBox.hidden = false
  }

  function render() {
    let state = conn.state
    if (conn.stopped) state = 'stopped'
    else if (!conn.online) state = 'offline'
    else if (state === 'syncing' && conn.synced) state = 'connected'
    status.dataset.state = state
    statusText.textContent = STATUS_TEXT[state]

    let message = ''
    if (state === 'offline') {
      message = editingAllowed
        ? 'You are offline. Keep writing: your edits stay here and merge when you are back online.'
        : 'You are offline. The document will catch up when you are back online.'
    } else if (!conn.stopped && conn.policy && state !== 'connected') {
      message = conn.policy.message || 'The connection was lost; reconnecting…'
      if (conn.reason) message += ` (Server said: “${conn.reason}”)`
    }
    notice.textContent = message
    notice.hidden = !message
  }

  render()
  updateToolbar()

  // Handy when debugging in the console and for end-to-end tests.
  window.__collab = { editor, provider, ydoc, fragment: ydoc.getXmlFragment(FRAGMENT_FIELD) }

  window.addEventListener('pagehide', () => {
    // Tell the others at once that this person left (the server also does when the socket ends).
    provider.awareness.setLocalState(null)
  })
  window.addEventListener('pageshow', (event) => {
    // Back from the back/forward cache: the connection and presence are stale; start afresh.
    if (event.persisted) window.location.reload()
  })
}
