// @ts-check
// The document list: GET /api/documents, newest edits first, with a box to create or open one
// (checked against the server's naming rules before leaving the page) and, for those allowed
// to (auth off, or an admin token), Rename (renamedialog.js) and Delete buttons.
import { clearDocument } from 'y-indexeddb'

import { deleteDocument, listDocuments } from './api.js'
import { currentToken, roleOf, withToken } from './auth.js'
import { h } from './dom.js'
import { formatSize, relativeTime } from './format.js'
import { localCopyName, moveLocalCopy } from './localcopy.js'
import { editorPath, nameProblem } from './names.js'
import { createRenameDialog } from './renamedialog.js'

const PAGE_SIZE = 50

/** @typedef {{name: string, created_at: string, updated_at: string, size_bytes: number,
 *   updates: number, peers: number}} DocumentRecord */

/** @param {HTMLElement} main */
export function renderList(main) {
  document.title = 'Documents · collab'
  const token = currentToken()
  // With auth off there is no token and the server lets anyone delete or rename; with auth on
  // only an admin token may (the server checks; this only hides buttons that could not work).
  const canDelete = token === null || roleOf(token) === 'admin'

  const nameInput = /** @type {HTMLInputElement} */ (h('input', {
    id: 'doc-name',
    name: 'name',
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. team/meeting-notes',
    'aria-describedby': 'doc-name-hint doc-name-error',
  }))
  const nameError = h('p', { id: 'doc-name-error', class: 'field-error', role: 'alert', hidden: true })
  const openForm = h(
    'form',
    { class: 'open-form', 'aria-labelledby': 'open-heading', novalidate: true },
    h('h2', { id: 'open-heading', class: 'section-title' }, 'Create or open a document'),
    h('label', { for: 'doc-name' }, 'Document name'),
    h('div', { class: 'input-row' }, nameInput, h('button', { type: 'submit', class: 'button primary' }, 'Open')),
    nameError,
    h('p', { id: 'doc-name-hint', class: 'hint' },
      'A new name creates a new document. Use “/” to group documents, like folders.'),
  )
  /** @param {string | null} problem */
  function showNameProblem(problem) {
    nameError.textContent = problem || ''
    nameError.hidden = !problem
    nameInput.setAttribute('aria-invalid', problem ? 'true' : 'false')
  }
  openForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = nameInput.value.trim()
    const problem = nameProblem(name)
    showNameProblem(problem)
    if (problem) {
      nameInput.focus()
      return
    }
    window.location.assign(withToken(editorPath(name)))
  })
  nameInput.addEventListener('input', () => {
    if (!nameError.hidden) showNameProblem(nameProblem(nameInput.value.trim()))
  })

  const filterInput = /** @type {HTMLInputElement} */ (h('input', {
    id: 'doc-filter',
    type: 'search',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Starts with…',
  }))
  const filterForm = h(
    'form',
    { class: 'filter-form', role: 'search' },
    h('label', { for: 'doc-filter' }, 'Filter by name prefix'),
    h('div', { class: 'input-row' }, filterInput, h('button', { type: 'submit', class: 'button' }, 'Filter')),
  )

  const status = h('p', { class: 'list-status', role: 'status', 'aria-live': 'polite' })
  const errorBox = h('div', { class: 'alert alert-error', role: 'alert', hidden: true })
  const tbody = h('tbody')
  const table = h(
    'table',
    { class: 'doc-table', hidden: true },
    h('caption', { class: 'visually-hidden' }, 'Documents, most recently edited first'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col' }, 'Last edited'),
      h('th', { scope: 'col', class: 'num' }, 'Size'),
      h('th', { scope: 'col', class: 'num' }, 'People here'),
      canDelete ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null,
    )),
    tbody,
  )
  const moreButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'button', hidden: true }, 'Show more'))
  const refreshButton = h('button', { type: 'button', class: 'button small' }, 'Refresh')
  const confirm = createConfirm()
  const renameDialog = createRenameDialog()

  main.replaceChildren(
    h('h1', null, 'Documents'),
    openForm,
    h('section', { class: 'doc-list', 'aria-labelledby': 'list-heading' },
      h('div', { class: 'list-head' },
        h('h2', { id: 'list-heading', class: 'section-title' }, 'Recently edited'),
        refreshButton),
      filterForm,
      errorBox,
      status,
      table,
      moreButton),
    confirm.dialog,
    renameDialog.dialog,
  )

  /** @type {string | null} */
  let cursor = null
  let prefix = ''
  let loading = false

  /** @param {string} message @param {string} [detail] */
  function showError(message, detail) {
    errorBox.replaceChildren(h('p', null, message))
    if (detail && detail !== message) errorBox.append(h('p', { class: 'detail' }, `Server said: ${detail}`))
    errorBox.hidden = false
  }

  function updateStatus() {
    const count = tbody.children.length
    table.hidden = count === 0
    if (count === 0) {
      status.textContent = prefix
        ? `No documents start with “${prefix}”.`
        : 'No documents yet. Type a name above to create the first one.'
    } else {
      status.textContent = `${count} document${count === 1 ? '' : 's'}${cursor ? ' shown' : ''}.`
    }
  }

  /** @param {DocumentRecord} doc @param {HTMLElement} tr */
  async function remove(doc, tr) {
    const yes = await confirm.ask(doc.name)
    if (!yes) return
    errorBox.hidden = true
    try {
      await deleteDocument(doc.name)
    } catch (error) {
      const e = /** @type {import('./api.js').ApiError} */ (error)
      showError(`Could not delete “${doc.name}”. ${e.message}`, e.detail)
      return
    }
    // This browser's copy would be refused by the server now: drop it too.
    clearDocument(localCopyName(doc.name)).catch(() => {})
    tr.remove()
    updateStatus()
    status.textContent = `Deleted “${doc.name}”. ${status.textContent}`
  }

  /** @param {DocumentRecord} doc @param {HTMLElement} tr */
  async function rename(doc, tr) {
    const renamed = await renameDialog.ask(doc.name)
    if (renamed === null) return
    errorBox.hidden = true
    // What this browser kept of the document goes with it (best effort).
    await moveLocalCopy(doc.name, renamed.name).catch(() => {})
    tr.replaceWith(row(renamed))
    updateStatus()
    status.textContent = `Renamed “${doc.name}” to “${renamed.name}”. ${status.textContent}`
  }

  /** @param {DocumentRecord} doc */
  function row(doc) {
    const when = relativeTime(doc.updated_at)
    const peers = Number(doc.peers) || 0
    const tr = h('tr', null,
      h('th', { scope: 'row', class: 'doc-name' },
        h('a', { href: withToken(editorPath(doc.name)) }, doc.name)),
      h('td', { 'data-label': 'Last edited' },
        h('time', { datetime: doc.updated_at, title: when.title }, when.text)),
      h('td', { class: 'num', 'data-label': 'Size' }, formatSize(doc.size_bytes)),
      h('td', { class: 'num', 'data-label': 'People here' },
        peers > 0
          ? h('span', { class: 'peers-live' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), String(peers))
          : '0'),
    )
    if (canDelete) {
      const renameButton = h('button', {
        type: 'button', class: 'button small', 'aria-label': `Rename ${doc.name}`,
      }, 'Rename')
      renameButton.addEventListener('click', () => rename(doc, tr))
      const button = h('button', {
        type: 'button', class: 'button small danger', 'aria-label': `Delete ${doc.name}`,
      }, 'Delete')
      button.addEventListener('click', () => remove(doc, tr))
      tr.append(h('td', { class: 'actions' }, renameButton, ' ', button))
    }
    return tr
  }

  /** @param {boolean} reset */
  async function load(reset) {
    if (loading) return
    loading = true
    if (reset) cursor = null
    status.textContent = 'Loading documents…'
    errorBox.hidden = true
    moreButton.disabled = true
    try {
      const page = await listDocuments({ limit: PAGE_SIZE, sort: 'updated_at', cursor, prefix })
      if (reset) tbody.replaceChildren()
      tbody.append(...page.documents.map(row))
      cursor = page.next_cursor
      moreButton.hidden = !cursor
      updateStatus()
    } catch (error) {
      const e = /** @type {import('./api.js').ApiError} */ (error)
      showError(`Could not load the document list. ${e.message}`, e.detail)
      status.textContent = ''
    } finally {
      loading = false
      moreButton.disabled = false
    }
  }

  moreButton.addEventListener('click', () => load(false))
  refreshButton.addEventListener('click', () => load(true))
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault()
    prefix = filterInput.value.trim()
    load(true)
  })
  filterInput.addEventListener('search', () => {
    if (filterInput.value === '' && prefix !== '') {
      prefix = ''
      load(true)
    }
  })

  load(true)
}

/** A modal "Delete this document?" dialog; `ask(name)` resolves to the person's answer. */
function createConfirm() {
  const title = h('h2', { id: 'confirm-title', class: 'section-title' })
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', {
    class: 'confirm', id: 'confirm-delete', 'aria-labelledby': 'confirm-title',
  },
  h('form', { method: 'dialog' },
    title,
    h('p', null, 'Its text and history are removed for everyone, and people editing it now are disconnected. This cannot be undone.'),
    h('div', { class: 'confirm-actions' },
      h('button', { type: 'submit', value: 'cancel', class: 'button', autofocus: true }, 'Cancel'),
      h('button', { type: 'submit', value: 'delete', class: 'button danger' }, 'Delete')))))
  return {
    dialog,
    /** @param {string} name */
    ask(name) {
      title.textContent = `Delete “${name}”?`
      dialog.returnValue = ''
      dialog.showModal()
      return new Promise((resolve) => {
        dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), { once: true })
      })
    },
  }
}
