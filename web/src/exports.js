// @ts-check
// The Download buttons (Markdown, HTML): the server's export, fetched with the page's token.
import { downloadExport } from './api.js'
import { h } from './dom.js'

/** @param {string} name the document name */
export function createExports(name) {
  const error = h('p', { class: 'alert alert-error small', id: 'export-error', role: 'alert', hidden: true })
  let available = true
  /** @type {HTMLButtonElement[]} */
  const buttons = []
  for (const format of /** @type {const} */ (['markdown', 'html'])) {
    const label = format === 'markdown' ? 'Markdown' : 'HTML'
    const button = /** @type {HTMLButtonElement} */ (h('button', {
      type: 'button', class: 'button small', 'data-export': format,
      'aria-label': `Download as ${label}`,
    }, label))
    button.addEventListener('click', async () => {
      button.disabled = true
      error.hidden = true
      try {
        await downloadExport(name, format)
      } catch (exc) {
        error.textContent = `Could not download the ${label} file. ${exc instanceof Error ? exc.message : ''}`
        error.hidden = false
      } finally {
        button.disabled = !available
      }
    })
    buttons.push(button)
  }
  const group = h('div', { class: 'export', role: 'group', 'aria-label': 'Download' },
    h('span', { class: 'export-label', 'aria-hidden': 'true' }, 'Download:'),
    ...buttons)
  return {
    group,
    error,
    /** Turns the buttons off for good: there is nothing the server could export. */
    disable() {
      available = false
      for (const button of buttons) button.disabled = true
    },
  }
}
