// @ts-check
// The document list's "Rename" dialog: the new name is checked against the server's naming
// rules while it is typed (names.js), then sent (POST .../rename); what the server refuses (a
// name taken, no permission) is shown in the dialog, which stays open to try another name.
import { renameDocument } from './api.js'
import { h } from './dom.js'
import { nameProblem } from './names.js'

/** @typedef {import('./list.js').DocumentRecord} DocumentRecord */

/** A modal dialog; `ask(name)` resolves to the renamed document's record, or null if cancelled. */
export function createRenameDialog() {
  const title = h('h2', { id: 'rename-title', class: 'section-title' })
  const input = /** @type {HTMLInputElement} */ (h('input', {
    id: 'rename-to', name: 'to', type: 'text', required: true, autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'rename-hint rename-error',
  }))
  const error = h('p', { id: 'rename-error', class: 'field-error', role: 'alert', hidden: true })
  const submit = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'submit', class: 'button primary' }, 'Rename'))
  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel')
  const form = h('form', { novalidate: true },
    title,
    h('label', { for: 'rename-to' }, 'New name'),
    input,
    error,
    h('p', { id: 'rename-hint', class: 'hint' },
      'People editing it now follow it to the new name. Its history and versions move with it.'),
    h('div', { class: 'confirm-actions' }, cancel, submit))
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', {
    class: 'confirm', id: 'rename-dialog', 'aria-labelledby': 'rename-title',
  }, form))

  /** @param {string | null} problem */
  function showProblem(problem) {
    error.textContent = problem || ''
    error.hidden = !problem
    input.setAttribute('aria-invalid', problem ? 'true' : 'false')
  }

  /** @type {((record: DocumentRecord | null) => void) | null} */
  let answer = null
  let current = ''

  /** @param {DocumentRecord | null} record */
  function finish(record) {
    const resolve = answer
    answer = null
    dialog.close()
    if (resolve) resolve(record)
  }

  input.addEventListener('input', () => {
    if (!error.hidden) showProblem(nameProblem(input.value.trim()))
  })
  cancel.addEventListener('click', () => finish(null))
  dialog.addEventListener('cancel', () => finish(null)) // Escape
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const to = input.value.trim()
    const problem = to === current ? 'That is its name already; type another one.' : nameProblem(to)
    showProblem(problem)
    if (problem) {
      input.focus()
      return
    }
    submit.disabled = true
    try {
      finish(await renameDocument(current, to))
    } catch (caught) {
      const e = /** @type {import('./api.js').ApiError} */ (caught)
      showProblem(e.status === 409 ? `A document named “${to}” exists already; pick another name.` : e.message)
      input.focus()
    } finally {
      submit.disabled = false
    }
  })

  return {
    dialog,
    /**
     * @param {string} name the document's current name
     * @returns {Promise<DocumentRecord | null>}
     */
    ask(name) {
      current = name
      title.textContent = `Rename “${name}”`
      input.value = name
      showProblem(null)
      dialog.showModal()
      input.select()
      return new Promise((resolve) => {
        answer = resolve
      })
    },
  }
}
