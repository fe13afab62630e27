// @ts-check
// Names shared with the server. The server's exporter reads the same Y.XmlFragment: if this
// changes, collab/export.py must change with it (the end-to-end export test checks both sides).

/** The Y.XmlFragment that holds the rich-text document (Tiptap's Collaboration `field`). */
export const FRAGMENT_FIELD = 'default'

/** Where the y-websocket client connects: `${SYNC_PATH}/${encoded name}`. */
export const SYNC_PATH = '/sync'
