// @ts-check
// One page, routed on location.pathname: "/" is the document list, "/d/{name}" the editor.
import './style.css'
import { decodeName } from './names.js'
import { withToken } from './auth.js'
import { h } from './dom.js'

const main = /** @type {HTMLElement} */ (document.getElementById('main'))
const brand = /** @type {HTMLAnchorElement} */ (document.getElementById('brand-link'))
brand.href = withToken('/')

/** @param {string} message */
function notFound(message) {
  document.title = 'Not found · collab'
  main.replaceChildren(
    h('section', { class: 'not-found', 'aria-labelledby': 'not-found-title' },
      h('p', { class: 'not-found-code', 'aria-hidden': 'true' }, '404'),
      h('h1', { id: 'not-found-title' }, 'Page not found'),
      h('p', null, message),
      h('p', null, h('a', { class: 'button primary', href: withToken('/') }, 'Go to the document list'))),
  )
}

async function route() {
  const path = window.location.pathname
  if (path === '/' || path === '/index.html') {
    const { renderList } = await import('./list.js')
    renderList(main)
    return
  }
  if (path.startsWith('/d/')) {
    const name = decodeName(path.slice(3))
    if (name === null || name === '') {
      notFound('That address does not name a document.')
      return
    }
    const { renderEditor } = await import('./editor.js')
    renderEditor(main, name)
    return
  }
  notFound('There is nothing at this address.')
}

route().catch((error) => {
  console.error(error)
  main.replaceChildren(
    h('h1', null, 'Something went wrong'),
    h('p', { role: 'alert' }, 'This page could not start. Reload it; if that does not help, the server may be updating.'),
  )
})
