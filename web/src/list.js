// The document list: GET /api/documents, newest edits first, with a box to create or open one.
import { listDocuments } from './api.js'
import { withToken } from './auth.js'
import { h } from './dom.js'
import { formatSize, relativeTime } from './format.js'
import { editorPath } from './names.js'

const PAGE_SIZE = 50

/** @param {HTMLElement} main */
export function renderList(main) {
  document.title = 'Documents · collab'

  const nameInput = h('input', {
    id: 'doc-name',
    name: 'name',
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. team/meeting-notes',
    'aria-describedby': 'doc-name-hint',
  })
  const openForm = h(
    'form',
    { class: 'open-form', 'aria-labelledby': 'open-heading' },
    h('h2', { id: 'open-heading', class: 'section-title' }, 'Create or open a document'),
    h('label', { for: 'doc-name' }, 'Document name'),
    h('div', { class: 'input-row' }, nameInput, h('button', { type: 'submit', class: 'button primary' }, 'Open')),
    h('p', { id: 'doc-name-hint', class: 'hint' },
      'A new name creates a new document. Use “/” to group documents, like folders.'),
  )
  openForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = nameInput.value.trim()
    if (!name) {
      nameInput.focus()
      return
    }
    window.location.assign(withToken(editorPath(name)))
  })

  const filterInput = h('input', {
    id: 'doc-filter',
    type: 'search',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Starts with…',
  })
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
    )),
    tbody,
  )
  const moreButton = h('button', { type: 'button', class: 'button', hidden: true }, 'Show more')
  const refreshButton = h('button', { type: 'button', class: 'button small' }, 'Refresh')

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
  )

  let cursor = null
  let prefix = ''
  let loading = false

  function row(doc) {
    const when = relativeTime(doc.updated_at)
    const peers = Number(doc.peers) || 0
    return h('tr', null,
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
  }

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
      const count = tbody.children.length
      table.hidden = count === 0
      if (count === 0) {
        status.textContent = prefix
          ? `No documents start with “${prefix}”.`
          : 'No documents yet. Type a name above to create the first one.'
      } else {
        status.textContent = `${count} document${count === 1 ? '' : 's'}${cursor ? ' shown' : ''}.`
      }
    } catch (error) {
      errorBox.replaceChildren(
        h('p', null, `Could not load the document list. ${error.message}`),
      )
      if (error.detail && error.detail !== error.message) {
        errorBox.append(h('p', { class: 'detail' }, `Server said: ${error.detail}`))
      }
      errorBox.hidden = false
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
