// Regenerates the binary golden updates used by tests/test_export.py.
//
// The updates are written by the real JavaScript stack the web editor uses (Tiptap's schema,
// @tiptap/y-tiptap, yjs), so the Python exporter is tested against the exact bytes and the
// exact attribute/mark encoding a browser produces, not against pycrdt's own idea of it.
//
// Usage (needs `npm ci` in web/ first):  node tests/golden/make_golden.mjs
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'

const require = createRequire(new URL('../../web/package.json', import.meta.url))
const Y = require('yjs')
const { getSchema } = require('@tiptap/core')
const StarterKit = require('@tiptap/starter-kit').default
const { prosemirrorJSONToYDoc } = require('@tiptap/y-tiptap')

const text = (t, ...marks) => ({ type: 'text', text: t, ...(marks.length ? { marks } : {}) })
const para = (...content) => ({ type: 'paragraph', ...(content.length ? { content } : {}) })
const item = (...content) => ({ type: 'listItem', content })
const link = (href) => ({ type: 'link', attrs: { href } })

const doc = {
  type: 'doc',
  content: [
    { type: 'heading', attrs: { level: 1 }, content: [text('Title & <html> *stars*')] },
    para(
      text('Plain, '),
      text('bold', { type: 'bold' }),
      text(', '),
      text('italic', { type: 'italic' }),
      text(', '),
      text('both', { type: 'bold' }, { type: 'italic' }),
      text(', '),
      text('struck', { type: 'strike' }),
      text(', '),
      text('a_b*c', { type: 'code' }),
      text(', '),
      text('a link', link('https://example.com/?q=1&r=2')),
      text(', '),
      text('under', { type: 'underline' }),
      text('.'),
      { type: 'hardBreak' },
      text('After break.')
    ),
    para(),
    { type: 'heading', attrs: { level: 3 }, content: [text('Lists')] },
    {
      type: 'bulletList',
      content: [
        item(para(text('one'))),
        item(
          para(text('two')),
          {
            type: 'bulletList',
            content: [item(para(text('two.a'))), item(para(text('two.b')))]
          },
          { type: 'orderedList', attrs: { start: 1 }, content: [item(para(text('inner')))] }
        ),
        item(para(text('three')), para(text('second paragraph')))
      ]
    },
    {
      type: 'orderedList',
      attrs: { start: 3 },
      content: [item(para(text('third'))), item(para(text('fourth')))]
    },
    {
      type: 'blockquote',
      content: [
        para(text('Quoted '), text('text', { type: 'italic' })),
        { type: 'bulletList', content: [item(para(text('quoted item')))] }
      ]
    },
    {
      type: 'codeBlock',
      attrs: { language: 'python' },
      content: [text('def f(x):\n    return x < 1 and "```"\n')]
    },
    { type: 'codeBlock', content: [text('plain <code>')] },
    { type: 'horizontalRule' },
    para(text('Grüße 🌍 日本語, *not bold* _x_ [a](b) `c` 1. # + - ! | \\ <b>')),
    para(text('# not a heading')),
    para(text('1. not a list'))
  ]
}

const schema = getSchema([StarterKit])
const ydoc = prosemirrorJSONToYDoc(schema, doc, 'default')
writeFileSync(new URL('./tiptap_doc.bin', import.meta.url), Y.encodeStateAsUpdate(ydoc))
writeFileSync(new URL('./tiptap_doc.json', import.meta.url), JSON.stringify(doc, null, 2) + '\n')

// Plain Yjs roots of every kind, including edits and deletions, for JSON/type detection.
const other = new Y.Doc()
const t = other.getText('text')
t.insert(0, 'Hello, world!')
t.delete(5, 7)
t.insert(5, ' there')
const m = other.getMap('meta')
m.set('title', 'Notes')
m.set('count', 3)
m.set('ratio', 0.5)
m.set('tags', ['a', 'b'])
m.set('gone', true)
m.delete('gone')
const nested = new Y.Map()
m.set('nested', nested)
nested.set('deep', null)
const a = other.getArray('list')
a.push([1, 'two', false, { k: 'v' }])
const inner = new Y.Array()
a.push([inner])
inner.push([42])
a.delete(1, 1)
const cleared = other.getText('cleared')
cleared.insert(0, 'bye')
cleared.delete(0, 3)
const rich = other.getText('rich')
rich.insert(0, 'ab', { bold: true })
writeFileSync(new URL('./yjs_roots.bin', import.meta.url), Y.encodeStateAsUpdate(other))
