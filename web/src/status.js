// @ts-check
// The connection indicator (link state and where this page's edits are), the notice under it,
// and the alert box for connections the server ended for good.
import { h } from './dom.js'
import { LINK_TEXT, SAVED_TEXT } from './indicator.js'
import { withToken } from './auth.js'

/** @typedef {import('./indicator.js').LinkState} LinkState */
/** @typedef {import('./indicator.js').SavedState} SavedState */

export function createStatus() {
  const dot = h('span', { class: 'status-dot', 'aria-hidden': 'true' })
  const text = h('span', { class: 'status-text' }, LINK_TEXT.connecting)
  const saved = h('span', { class: 'saved-state', id: 'saved-state', 'data-saved': 'server', hidden: true })
  const status = h('p', { class: 'status', id: 'connection-status', role: 'status', 'data-state': 'connecting' },
    dot, text, saved)
  const notice = h('p', { class: 'notice', id: 'connection-notice', 'aria-live': 'polite', hidden: true })
  const alertBox = h('div', { class: 'alert alert-error', id: 'connection-alert', role: 'alert', hidden: true })

  /**
   * @param {LinkState} state
   * @param {SavedState} where
   * @param {string} message the notice, '' for none
   */
  function render(state, where, message) {
    status.dataset.state = state
    text.textContent = LINK_TEXT[state]
    saved.dataset.saved = where
    saved.textContent = SAVED_TEXT[where]
    saved.hidden = where === 'server'
    notice.textContent = message
    notice.hidden = !message
  }

  /**
   * @param {string} message
   * @param {{reload?: boolean, reason?: string}} [options]
   */
  function showAlert(message, { reload = false, reason = '' } = {}) {
    const actions = h('p', { class: 'alert-actions' })
    if (reload) {
      actions.append(h('button', { type: 'button', class: 'button small', onclick: () => window.location.reload() },
        'Reload page'))
    }
    actions.append(h('a', { href: withToken('/') }, 'Back to documents'))
    alertBox.replaceChildren(h('p', { class: 'alert-message' }, message))
    if (reason) alertBox.append(h('p', { class: 'detail' }, `Server said: “${reason}”`))
    alertBox.append(actions)
    alertBox.hidden = false
  }

  return { status, notice, alertBox, render, showAlert }
}
