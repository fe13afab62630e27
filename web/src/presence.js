// @ts-check
// Who is here: the list of people present (from awareness), the person's own name field, and
// a caret colour distinct from those of the others present (colors.js).
import { distinctColor, isColor } from './colors.js'
import { h } from './dom.js'
import { loadUser, saveName } from './user.js'

/** @typedef {import('y-protocols/awareness').Awareness} Awareness */

/**
 * @param {{awareness: Awareness, user: {name: string, color: string},
 *   setUser: (user: {name: string, color: string}) => void}} options setUser shows the
 *   person's name and colour to the others (the caret extension's updateUser)
 * @returns {{element: HTMLElement, peopleCount: HTMLElement, stop: () => void}} stop: the
 *   server ended the connection for good, so no one is shown as present
 */
export function createPresence({ awareness, user, setUser }) {
  const self = awareness.clientID
  let shown = { ...user }
  const swatch = h('span', { class: 'swatch', style: `background:${user.color}`, 'aria-hidden': 'true' })
  const nameInput = /** @type {HTMLInputElement} */ (h('input', {
    id: 'user-name', type: 'text', maxlength: '40', autocomplete: 'nickname', value: user.name,
  }))
  const list = h('ul', { class: 'presence-list', id: 'presence-list' })
  const heading = h('h2', { id: 'presence-heading', class: 'section-title' }, 'Here now')
  const peopleCount = h('span', { class: 'people-count' })
  const element = h('aside', { class: 'presence', 'aria-labelledby': 'presence-heading' },
    heading,
    list,
    h('div', { class: 'name-field' },
      h('label', { for: 'user-name' }, 'Your name'),
      h('div', { class: 'input-row' }, swatch, nameInput)),
  )

  function show() {
    swatch.style.background = shown.color
    setUser({ ...shown })
  }

  let stopped = false

  function render() {
    if (stopped) {
      list.replaceChildren()
      heading.textContent = 'Here now'
      peopleCount.textContent = 'Not connected'
      return
    }
    /** @type {{clientId: number, name: string, color: string | undefined, self: boolean}[]} */
    const people = []
    for (const [clientId, state] of awareness.getStates()) {
      const u = state && state.user
      if (!u || typeof u.name !== 'string') continue
      people.push({ clientId, name: u.name, color: isColor(u.color) ? u.color : undefined, self: clientId === self })
    }
    const color = distinctColor(user.color, self, people.map((p) => [p.clientId, p.color]))
    if (color !== shown.color) {
      shown = { ...shown, color }
      show()
      return // setUser changed awareness: this runs again
    }
    people.sort((a, b) => (a.self === b.self ? a.name.localeCompare(b.name) : a.self ? -1 : 1))
    list.replaceChildren(
      ...people.map((p) =>
        h('li', { class: 'person', 'data-client': String(p.clientId), 'data-color': p.color ?? '' },
          h('span', { class: 'swatch', style: p.color ? `background:${p.color}` : null, 'aria-hidden': 'true' }),
          h('span', { class: 'person-name' }, p.name),
          p.self ? h('span', { class: 'you' }, '(you)') : null)),
    )
    const n = people.length
    heading.textContent = `Here now (${n})`
    peopleCount.textContent = n === 1 ? 'Only you here' : `${n} people here`
  }
  awareness.on('change', render)
  render()

  let nameTimer = 0
  nameInput.addEventListener('input', () => {
    const value = nameInput.value.trim()
    if (!value) return
    clearTimeout(nameTimer)
    nameTimer = window.setTimeout(() => saveName(value), 300)
    shown = { ...shown, name: value }
    show()
  })
  nameInput.addEventListener('change', () => {
    if (!nameInput.value.trim()) nameInput.value = loadUser().name
  })

  return {
    element,
    peopleCount,
    stop() {
      stopped = true
      render()
    },
  }
}
