// @ts-check
// A Tiptap page on HocuspocusProvider, built for tests/e2e/test_hocuspocus_browser.py: what a
// Tiptap application connecting to collab with @hocuspocus/provider looks like, unmodified.
// Bundled by the test with esbuild (web/'s Tiptap and Yjs, the e2e peers' @hocuspocus/provider).
// The server, document name and token come from the page URL: ?url=WS_URL&doc=NAME&token=TOKEN.

import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import { HocuspocusProvider } from '@hocuspocus/provider'

const params = new URLSearchParams(window.location.search)
const status = /** @type {HTMLElement} */ (document.querySelector('#status'))

const provider = new HocuspocusProvider({
  url: params.get('url') ?? 'ws://127.0.0.1:8000/hocuspocus',
  name: params.get('doc') ?? 'default',
  token: params.get('token') ?? '',
  onAuthenticated: ({ scope }) => { status.dataset.scope = scope },
  onAuthenticationFailed: ({ reason }) => { status.dataset.denied = reason },
  onSynced: () => { status.dataset.synced = 'true' },
  onUnsyncedChanges: ({ number }) => { status.dataset.unsynced = String(number) },
})

const editor = new Editor({
  element: /** @type {HTMLElement} */ (document.querySelector('#editor')),
  extensions: [
    StarterKit.configure({ undoRedo: false }),
    Collaboration.configure({ document: provider.document }),
  ],
})

// what the test reads: the same fragment collab's editor binds to ("default")
Object.assign(window, { __hocus: { provider, editor, fragment: provider.document.getXmlFragment('default') } })
