// @ts-check
// The History panel: the document's versions (newest first: time, label, author, automatic or
// named), "Save version" with a label, a read-only preview of a version with what changed
// since highlighted, and Restore after a confirmation. Everything goes through the HTTP API
// (/api/documents/{name}/versions...); a restore reaches the open editors like any edit.
import { apiFetch } from './api.js'
import { h } from './dom.js'
import { encodeName } from './names.js'
import './history.css'

const PAGE = 20

/**
 * @typedef {{id: number, document: string, created_at: string, label: string | null,
 *   author: string | null, automatic: boolean, size_bytes: number}} Version
 * @typedef {{op: 'equal' | 'removed' | 'added', text: string}} Block
 */

/**
 * The API path of the versions of document ``name``, and more segments.
 * @param {string} name
 * @param {...(string | number)} rest
 */
export function versionsPath(name, ...rest) {
  return ['/api/documents', encodeName(name), 'versions', ...rest.map(String)].join('/')
}

/**
 * @param {string} name
 * @param {string | null} cursor
 * @returns {Promise<{versions: Version[], next_cursor: string | null}>}
 */
export async function listVersions(name, cursor = null) {
  const query = new URLSearchParams({ limit: String(PAGE) })
  if (cursor) query.set('cursor', cursor)
  const response = await apiFetch(`${versionsPath(name)}?${query}`)
  const body = await response.json()
  return { versions: body.versions || [], next_cursor: body.next_cursor ?? null }
}

/**
 * @param {string} name
 * @param {string} label
 * @returns {Promise<Version>}
 */
export async function saveVersion(name, label) {
  const response = await apiFetch(versionsPath(name), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(label ? { label } : {}),
  })
  return response.json()
}

/**
 * The blocks of version ``id`` compared with the document now.
 * @param {string} name
 * @param {number} id
 * @returns {Promise<{blocks: Block[], added: number, removed: number}>}
 */
export async function versionDiff(name, id) {
  const response = await apiFetch(`${versionsPath(name, id, 'diff')}?to=current`)
  return response.json()
}

/**
 * @param {string} name
 * @param {number} id
 * @returns {Promise<{restored: Version, saved: Version}>}
 */
export async function restoreVersion(name, id) {
  const response = await apiFetch(versionsPath(name, id, 'restore'), { method: 'POST' })
  return response.json()
}

/**
 * What a version's row says: a title (its label, or the kind of version) and a line of
 * details (time, author, kind).
 * @param {Version} version
 * @param {(iso: string) => string} [formatTime]
 */
export function describeVersion(version, formatTime = localTime) {
  const kind = version.automatic ? 'Automatic' : 'Saved'
  const title = version.label || (version.automatic ? 'Automatic version' : 'Saved version')
  const details = [formatTime(version.created_at)]
  if (version.author) details.push(`by ${version.author}`)
  details.push(kind.toLowerCase())
  return { title, details: details.join(' · '), kind }
}

/** @param {string} iso */
function localTime(iso) {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString()
}

/**
 * The preview's rows: every block of the version, in order, with those the document no longer
 * has marked ``gone``, and the blocks added since marked ``new`` (shown struck through, so the
 * reader sees both what the version had and what a restore would take out).
 * @param {Block[]} blocks from the diff (from the version to now)
 * @returns {{text: string, change: 'same' | 'gone' | 'new'}[]}
 */
export function previewRows(blocks) {
  const change = { equal: 'same', removed: 'gone', added: 'new' }
  return blocks.map((block) => ({
    text: block.text,
    change: /** @type {'same' | 'gone' | 'new'} */ (change[block.op] || 'same'),
  }))
}

/**
 * Builds the History toggle button and its panel for document ``name``.
 * @param {{name: string, readOnly: boolean}} options
 * @returns {{button: HTMLElement, panel: HTMLElement}}
 */
export function historyPanel({ name, readOnly }) {
  const button = h('button', {
    type: 'button', class: 'button small', id: 'history-toggle',
    'aria-expanded': 'false', 'aria-controls': 'history-panel',
  }, 'History')
  const status = h('p', { class: 'history-status', id: 'history-status', role: 'status' })
  const list = h('ul', { class: 'version-list', id: 'version-list' })
  const more = h('button', { type: 'button', class: 'button small', id: 'more-versions', hidden: true },
    'Older versions')
  const labelInput = /** @type {HTMLInputElement} */ (h('input', {
    id: 'version-label', type: 'text', maxlength: '200', placeholder: 'Label (optional)',
    'aria-label': 'Version label',
  }))
  const saveButton = h('button', { type: 'submit', class: 'button small', id: 'save-version' },
    'Save version')
  const form = h('form', { class: 'save-version', hidden: readOnly }, labelInput, saveButton)
  const previewTitle = h('h3', { class: 'preview-title', id: 'preview-title' })
  const previewSummary = h('p', { class: 'preview-summary', id: 'preview-summary' })
  const previewBody = h('div', { class: 'preview-blocks', id: 'preview-blocks' })
  const restoreButton = h('button', {
    type: 'button', class: 'button small danger', id: 'restore-version', hidden: readOnly,
  }, 'Restore this version')
  const closePreview = h('button', { type: 'button', class: 'button small', id: 'close-preview' },
    'Close preview')
  const preview = h('section', {
    class: 'version-preview', id: 'version-preview', hidden: true, 'aria-labelledby': 'preview-title',
  },
  previewTitle,
  previewSummary,
  h('p', { class: 'preview-legend' },
    h('span', { class: 'block-gone' }, 'only in this version'), ' ',
    h('span', { class: 'block-new' }, 'added since')),
  previewBody,
  h('div', { class: 'preview-actions' }, restoreButton, closePreview))
  const panel = h('section', {
    class: 'history', id: 'history-panel', hidden: true, 'aria-labelledby': 'history-heading',
  },
  h('h2', { class: 'section-title', id: 'history-heading' }, 'History'),
  form, status, list, more, preview)

  /** @type {string | null} */
  let cursor = null
  /** @type {Version | null} */
  let previewed = null

  /** @param {string} text */
  function say(text) {
    status.textContent = text
  }

  /** @param {Version} version */
  function row(version) {
    const { title, details, kind } = describeVersion(version)
    const open = h('button', {
      type: 'button', class: 'version-item', 'data-version-id': String(version.id),
    },
    h('span', { class: 'version-title' }, title),
    h('span', { class: 'version-details' }, details),
    h('span', { class: `badge version-kind kind-${kind.toLowerCase()}` }, kind))
    open.addEventListener('click', () => showPreview(version))
    return h('li', null, open)
  }

  /** @param {boolean} fromStart */
  async function load(fromStart) {
    if (fromStart) cursor = null
    try {
      const page = await listVersions(name, cursor)
      if (fromStart) list.replaceChildren()
      for (const version of page.versions) list.append(row(version))
      cursor = page.next_cursor
      more.hidden = !cursor
      if (fromStart && page.versions.length === 0) say('No versions yet.')
    } catch (error) {
      say(`Could not load the versions. ${error.message}`)
    }
  }

  /** @param {Version} version */
  async function showPreview(version) {
    previewed = version
    const { title, details } = describeVersion(version)
    previewTitle.textContent = `Version ${version.id}: ${title}`
    previewSummary.textContent = details
    previewBody.replaceChildren(h('p', { class: 'muted' }, 'Loading…'))
    preview.hidden = false
    try {
      const diff = await versionDiff(name, version.id)
      if (previewed !== version) return
      const rows = previewRows(diff.blocks)
      previewBody.replaceChildren(...rows.map((r) => h('p', {
        class: `preview-block block-${r.change}`, 'data-change': r.change,
      }, r.text)))
      if (rows.length === 0) previewBody.replaceChildren(h('p', { class: 'muted' }, 'This version is empty.'))
      previewSummary.textContent = diff.added || diff.removed
        ? `${details} · ${diff.removed} block(s) only in this version, ${diff.added} added since`
        : `${details} · the same as now`
    } catch (error) {
      previewBody.replaceChildren(h('p', { class: 'alert alert-error small' },
        `Could not load this version. ${error.message}`))
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    saveButton.setAttribute('disabled', '')
    try {
      const version = await saveVersion(name, labelInput.value.trim())
      labelInput.value = ''
      say(`Saved version ${version.id}.`)
      await load(true)
    } catch (error) {
      say(`Could not save a version. ${error.message}`)
    } finally {
      saveButton.removeAttribute('disabled')
    }
  })

  restoreButton.addEventListener('click', async () => {
    const version = previewed
    if (!version) return
    const { title } = describeVersion(version)
    const sure = window.confirm(
      `Restore version ${version.id} (${title})? Everyone editing sees the document change;` +
      ' the document as it is now is kept as a version, so this can be undone.')
    if (!sure) return
    restoreButton.setAttribute('disabled', '')
    try {
      const done = await restoreVersion(name, version.id)
      say(`Restored version ${done.restored.id}. The document before is version ${done.saved.id}.`)
      preview.hidden = true
      previewed = null
      await load(true)
    } catch (error) {
      say(`Could not restore version ${version.id}. ${error.message}`)
    } finally {
      restoreButton.removeAttribute('disabled')
    }
  })

  closePreview.addEventListener('click', () => {
    preview.hidden = true
    previewed = null
  })
  more.addEventListener('click', () => load(false))
  button.addEventListener('click', () => {
    const open = panel.hidden
    panel.hidden = !open
    button.setAttribute('aria-expanded', String(open))
    if (open) {
      say('')
      load(true)
    }
  })
  return { button, panel }
}
