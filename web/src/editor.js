// @ts-check
// The editor page: Tiptap bound to the room through y-websocket (connection.js), a local copy
// in IndexedDB (localcopy.js), the toolbar, who is here, the connection indicator and exports.
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'
import * as Y from 'yjs'

import { currentToken, roleOf, withToken } from './auth.js'
import { isColor } from './colors.js'
import { renamedTo } from './closecodes.js'
import { connect } from './connection.js'
import { h } from './dom.js'
import { historyPanel } from './history.js'
import { createExports } from './exports.js'
import { FRAGMENT_FIELD } from './fields.js'
import { linkState, savedState } from './indicator.js'
import { createLocalCopy } from './localcopy.js'
import { editorPath, encodeName, nameProblem } from './names.js'
import { otherRoots } from './otherroots.js'
import { createPresence } from './presence.js'
import { createStatus } from './status.js'
import { createToolbar } from './toolbar.js'
import { loadUser } from './user.js'

/**
 * @param {HTMLElement} main
 * @param {string} name the document name (decoded)
 */
export function renderEditor(main, name) {
  document.title = `${name} · collab`
  const readOnly = roleOf(currentToken()) === 'read'
  const status = createStatus()
  const exports = createExports(name)
  const readOnlyBadge = h('span', { class: 'badge badge-readonly', id: 'readonly-badge', hidden: !readOnly },
    'Read-only')
  const peopleSlot = h('span', { class: 'people-slot' })
  const problem = nameProblem(name)
  const history = problem ? null : historyPanel({ name, readOnly })
  const head = h('div', { class: 'doc-head' },
    h('p', { class: 'crumbs' }, h('a', { href: withToken('/') }, '← All documents')),
    h('div', { class: 'doc-title-row' },
      h('h1', { class: 'doc-title', id: 'doc-title' }, name),
      readOnlyBadge),
    readOnly
      ? h('p', { class: 'readonly-hint' }, 'Your link lets you read this document and see who is here, but not edit it.')
      : null,
    h('div', { class: 'doc-meta' }, status.status, peopleSlot, exports.group, history && history.button),
    status.notice,
    status.alertBox,
    exports.error,
    history && history.panel)
  const otherNote = h('p', { class: 'notice notice-info', id: 'other-roots', role: 'status', hidden: true })
  head.append(otherNote)

  // A name the server would refuse: say why here, and do not connect.
  if (problem) {
    main.replaceChildren(head)
    status.render('stopped', 'server', '')
    status.showAlert(`This document name is not valid. ${problem} Go back to the document list and pick another name.`)
    exports.disable()
    return
  }

  const ydoc = new Y.Doc()
  /** @type {Editor | null} */
  let editor = null
  let editable = !readOnly
  /** @type {ReturnType<typeof createPresence> | null} */
  let presence = null

  // Text another client wrote outside this editor's fragment: say so, or the page looks empty.
  function showOtherRoots() {
    const names = otherRoots(ydoc, FRAGMENT_FIELD)
    otherNote.hidden = names.length === 0
    otherNote.textContent = names.length === 0 ? '' : `This document also holds ${
      names.map((n) => `“${n}”`).join(', ')}, written by another client (a script or another kind of editor); ` +
      `this editor shows only its rich text. See all of it at /api/documents/${encodeName(name)}/content.`
  }
  ydoc.on('update', showOtherRoots)

  const toolbar = createToolbar(() => editor)
  const surface = h('div', { class: 'editor-surface', id: 'editor' })
  const layout = h('div', { class: 'editor-layout' }, h('div', { class: 'editor-column' }, toolbar.element, surface))
  main.replaceChildren(head, layout)

  function render() {
    const state = linkState(link)
    let message = ''
    if (state === 'offline') {
      message = editable
        ? 'You are offline. Keep writing: your edits are kept in this browser and merge when you are back online.'
        : 'You are offline. The document will catch up when you are back online.'
    } else if (!link.stopped && link.policy && state !== 'connected') {
      message = link.policy.message || 'The connection was lost; reconnecting…'
      if (link.reason) message += ` (Server said: “${link.reason}”)`
    }
    status.render(state, savedState(localCopy.edits), message)
  }

  /** @param {boolean} allowed */
  function setEditing(allowed) {
    editable = allowed && !readOnly
    if (editor) {
      editor.setEditable(editable)
      editor.view.dom.setAttribute('aria-readonly', editable ? 'false' : 'true')
      toolbar.update(editor, editable)
    }
  }

  // A read-only page keeps no local copy: it has no edits, and a stale copy would be a write.
  const localCopy = createLocalCopy({ name, ydoc, keep: !readOnly, onChange: () => render() })
  const { provider, link } = connect({
    name,
    ydoc,
    token: currentToken(),
    onChange: () => render(),
    onStop(policy, code) {
      setEditing(false)
      if (presence) presence.stop()
      if (code === 4400 || code === 4409 || code === 4410) exports.disable()
      if (code === 4409) {
        followRename(renamedTo(link.reason))
        return
      }
      const show = () =>
        status.showAlert(policy.message || 'The connection was closed.', { reload: code < 4000, reason: link.reason })
      // Say so once the copy is gone, so that reloading starts from the server's state.
      if (policy.discardLocal) localCopy.discard().catch(() => {}).finally(show)
      else show()
    },
    onDenied(reason) {
      status.showAlert(
        `Permission denied: the server refused a change${reason ? ` (${reason})` : ''}. Your link may not allow editing.`,
        { reload: true, reason: link.reason })
      setEditing(false)
    },
  })
  localCopy.follow(provider)

  /**
   * The document was renamed (close 4409): carry this browser's copy to the new name (edits the
   * server may lack then go out from there) and open it; without a usable new name, say so.
   * @param {string | null} to
   */
  async function followRename(to) {
    if (to === null || nameProblem(to) !== null) {
      await localCopy.discard().catch(() => {})
      status.showAlert('This document was renamed. Find it under its new name in the document list.',
        { reason: link.reason })
      return
    }
    status.showAlert(`This document was renamed to “${to}”. Opening it…`)
    await localCopy.moveTo(to).catch(() => {})
    window.location.replace(withToken(editorPath(to)))
  }
  if (readOnly) {
    // Belt and braces: nothing this page does to the Y.Doc is ever sent (the server would close
    // the connection with 4403); only the provider's own sync writes to it.
    ydoc.off('update', /** @type {any} */ (provider)._updateHandler)
  }

  const user = loadUser()
  editor = new Editor({
    element: surface,
    editable,
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
          isColor(u.color)
            ? { class: 'collaboration-carets__selection', style: `background-color: ${u.color}33` }
            : {},
      }),
      Placeholder.configure({
        showOnlyWhenEditable: false,
        placeholder: () => (editable ? 'Start writing…' : 'This document is empty.'),
      }),
    ],
    editorProps: {
      attributes: {
        class: 'prose',
        role: 'textbox',
        'aria-multiline': 'true',
        'aria-label': `Text of ${name}`,
        'aria-readonly': editable ? 'false' : 'true',
        spellcheck: 'true',
      },
    },
    onTransaction: () => editor && toolbar.update(editor, editable),
    onSelectionUpdate: () => editor && toolbar.update(editor, editable),
  })
  const ready = editor

  presence = createPresence({
    awareness: provider.awareness,
    user,
    setUser: (u) => ready.commands.updateUser(u),
  })
  peopleSlot.replaceWith(presence.peopleCount)
  layout.append(presence.element)

  render()
  toolbar.update(editor, editable)

  window.addEventListener('pageshow', (event) => {
    // Back from the back/forward cache: the connection and presence are stale; start afresh.
    if (event.persisted) window.location.reload()
  })
}
