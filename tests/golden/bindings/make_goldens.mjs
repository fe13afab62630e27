// Writes the export goldens: one document per editor binding, written by that editor's own
// JavaScript libraries into a Yjs document (NAME.bin, a Yjs v1 update), and what the library's
// own serializers make of the same content (NAME.md, NAME.html, NAME.txt, where it has one).
// tests/test_export_bindings.py and tests/e2e/test_export_bindings.py check collab's export of
// each .bin against them. Run once and commit the outputs; the tests need none of these packages.
//
//   cd tests/golden/bindings && npm ci && node make_goldens.mjs
//
// package-lock.json pins every library; .npmrc sets legacy-peer-deps because @blocknote/core
// 0.55 lists both the yjs 13 and the @y/y 14 stacks as optional peers, which npm cannot
// satisfy together (the yjs 13 stack is used: yjs, y-prosemirror, y-protocols). Each run
// writes new client ids, so every .bin changes: commit the outputs together.
//
// Every document holds the same content where the editor can express it: a level-1 heading,
// a paragraph with bold, italic, a link and inline code, a level-2 heading, a bullet list with a
// nested bullet list, an ordered list, a quote and a code block.
import { writeFileSync } from 'node:fs'
import { JSDOM } from 'jsdom'
import * as Y from 'yjs'

const out = (name, text) => writeFileSync(new URL(`./${name}`, import.meta.url), text)
const bin = (name, ydoc) => out(`${name}.bin`, Y.encodeStateAsUpdate(ydoc))

// Lexical's HTML export, Quill and ProseMirror's DOMSerializer need a DOM.
const dom = new JSDOM('<!DOCTYPE html><html><body><div id="editor"></div></body></html>')
for (const key of ['window', 'document', 'Node', 'Element', 'HTMLElement', 'DocumentFragment',
  'MutationObserver', 'getComputedStyle', 'navigator', 'Text', 'DOMParser', 'HTMLDivElement',
  'HTMLParagraphElement', 'HTMLSpanElement', 'HTMLAnchorElement']) {
  if (!(key in globalThis) || key === 'navigator') {
    Object.defineProperty(globalThis, key, { value: dom.window[key], configurable: true, writable: true })
  }
}
document.getSelection = () => null
// jsdom has no layout, so no innerText; Quill's getSemanticHTML reads code blocks through it.
Object.defineProperty(dom.window.HTMLElement.prototype, 'innerText', { get () { return this.textContent } })
window.getSelection = () => null

const CODE = 'def f(x):\n    return x * 2'

// ---- ProseMirror: prosemirror-schema-basic + prosemirror-schema-list, y-prosemirror ----------
async function prosemirror () {
  const { Schema, DOMSerializer, Node } = await import('prosemirror-model')
  const { schema: basic } = await import('prosemirror-schema-basic')
  const { addListNodes } = await import('prosemirror-schema-list')
  const { prosemirrorJSONToYDoc } = await import('y-prosemirror')
  const { defaultMarkdownSerializer } = await import('prosemirror-markdown')
  const schema = new Schema({
    nodes: addListNodes(basic.spec.nodes, 'paragraph block*', 'block'),
    marks: basic.spec.marks
  })
  const t = (text, ...marks) => ({ type: 'text', text, ...(marks.length ? { marks } : {}) })
  const p = (...content) => ({ type: 'paragraph', content })
  const li = (...content) => ({ type: 'list_item', content })
  const json = {
    type: 'doc',
    content: [
      { type: 'heading', attrs: { level: 1 }, content: [t('Field notes')] },
      p(t('Some '), t('bold', { type: 'strong' }), t(' and '), t('italic', { type: 'em' }),
        t(' text, a '), t('link', { type: 'link', attrs: { href: 'https://example.com/a?b=1' } }),
        t(' and '), t('inline code', { type: 'code' }), t('.'), { type: 'hard_break' },
        t('After a break.')),
      { type: 'heading', attrs: { level: 2 }, content: [t('Lists')] },
      {
        type: 'bullet_list',
        content: [
          li(p(t('first'))),
          li(p(t('second')), { type: 'bullet_list', content: [li(p(t('nested one'))), li(p(t('nested two')))] })
        ]
      },
      { type: 'ordered_list', attrs: { order: 1 }, content: [li(p(t('step one'))), li(p(t('step two')))] },
      { type: 'blockquote', content: [p(t('A quote with '), t('emphasis', { type: 'em' }), t('.'))] },
      { type: 'code_block', content: [t(CODE)] },
      { type: 'horizontal_rule' },
      p(t('The end.'))
    ]
  }
  const node = Node.fromJSON(schema, json)
  bin('prosemirror', prosemirrorJSONToYDoc(schema, json, 'prosemirror'))
  out('prosemirror.md', defaultMarkdownSerializer.serialize(node) + '\n')
  const div = document.createElement('div')
  div.appendChild(DOMSerializer.fromSchema(schema).serializeFragment(node.content, { document }))
  out('prosemirror.html', div.innerHTML + '\n')
  out('prosemirror.txt', node.textBetween(0, node.content.size, '\n\n', (leaf) => leaf.type.name === 'hard_break' ? '\n' : '') + '\n')
}

// ---- Tiptap: @tiptap/core headless editor with StarterKit, @tiptap/html, @tiptap/markdown ----
async function tiptap () {
  const { Editor } = await import('@tiptap/core')
  const StarterKit = (await import('@tiptap/starter-kit')).default
  const { Markdown } = await import('@tiptap/markdown')
  const { generateHTML } = await import('@tiptap/html')
  const { prosemirrorJSONToYDoc } = await import('y-prosemirror')
  const t = (text, ...marks) => ({ type: 'text', text, ...(marks.length ? { marks } : {}) })
  const p = (...content) => ({ type: 'paragraph', content })
  const li = (...content) => ({ type: 'listItem', content })
  const json = {
    type: 'doc',
    content: [
      { type: 'heading', attrs: { level: 1 }, content: [t('Field notes')] },
      p(t('Some '), t('bold', { type: 'bold' }), t(' and '), t('italic', { type: 'italic' }),
        t(' text, a '), t('link', { type: 'link', attrs: { href: 'https://example.com/a?b=1' } }),
        t(' and '), t('inline code', { type: 'code' }), t(', '), t('struck', { type: 'strike' }),
        t('.'), { type: 'hardBreak' }, t('After a break.')),
      { type: 'heading', attrs: { level: 2 }, content: [t('Lists')] },
      {
        type: 'bulletList',
        content: [
          li(p(t('first'))),
          li(p(t('second')), { type: 'bulletList', content: [li(p(t('nested one'))), li(p(t('nested two')))] })
        ]
      },
      { type: 'orderedList', attrs: { start: 1 }, content: [li(p(t('step one'))), li(p(t('step two')))] },
      { type: 'blockquote', content: [p(t('A quote with '), t('emphasis', { type: 'italic' }), t('.'))] },
      { type: 'codeBlock', attrs: { language: 'python' }, content: [t(CODE)] },
      { type: 'horizontalRule' },
      p(t('The end.'))
    ]
  }
  const editor = new Editor({ element: null, extensions: [StarterKit, Markdown], content: json })
  const doc = editor.getJSON()
  bin('tiptap', prosemirrorJSONToYDoc(editor.schema, doc, 'default'))
  out('tiptap.md', editor.getMarkdown() + '\n')
  out('tiptap.html', generateHTML(doc, [StarterKit]) + '\n')
  out('tiptap.txt', editor.getText({ blockSeparator: '\n\n' }) + '\n')
  editor.destroy()
}

// ---- Lexical: headless editor bound by @lexical/yjs (root XmlText 'root') -------------------
async function lexicalDoc (name, build) {
  const L = await import('lexical')
  const { createHeadlessEditor } = await import('@lexical/headless')
  const { HeadingNode, QuoteNode } = await import('@lexical/rich-text')
  const { ListNode, ListItemNode } = await import('@lexical/list')
  const { LinkNode, AutoLinkNode } = await import('@lexical/link')
  const { CodeNode, CodeHighlightNode } = await import('@lexical/code')
  const { HashtagNode } = await import('@lexical/hashtag')
  const { HorizontalRuleNode } = await import('@lexical/extension')
  const { $convertToMarkdownString, TRANSFORMERS, CHECK_LIST } = await import('@lexical/markdown')
  const { $generateHtmlFromNodes } = await import('@lexical/html')
  const { createBinding, syncLexicalUpdateToYjs } = await import('@lexical/yjs')

  const editor = createHeadlessEditor({
    namespace: 'golden',
    nodes: [HeadingNode, QuoteNode, ListNode, ListItemNode, LinkNode, AutoLinkNode, CodeNode,
      CodeHighlightNode, HashtagNode, HorizontalRuleNode],
    onError: (e) => { throw e }
  })
  const ydoc = new Y.Doc()
  const awareness = {
    getLocalState: () => null,
    getStates: () => new Map(),
    off () {},
    on () {},
    setLocalState () {},
    setLocalStateField () {}
  }
  const provider = { awareness, connect () {}, disconnect () {}, on () {}, off () {} }
  const binding = createBinding(editor, provider, 'main', ydoc, new Map([['main', ydoc]]))
  editor.registerUpdateListener(({ prevEditorState, editorState, dirtyElements, dirtyLeaves, normalizedNodes, tags }) => {
    syncLexicalUpdateToYjs(binding, provider, prevEditorState, editorState, dirtyElements, dirtyLeaves, normalizedNodes, tags)
  })
  editor.update(() => {
    const root = L.$getRoot()
    root.clear()
    root.append(...build())
  }, { discrete: true })
  bin(name, ydoc)
  editor.getEditorState().read(() => {
    out(`${name}.md`, $convertToMarkdownString([CHECK_LIST, ...TRANSFORMERS]) + '\n')
    out(`${name}.html`, $generateHtmlFromNodes(editor, null) + '\n')
    out(`${name}.txt`, L.$getRoot().getTextContent() + '\n')
  })
}

async function lexical () {
  const L = await import('lexical')
  const { $createHeadingNode, $createQuoteNode } = await import('@lexical/rich-text')
  const { $createListNode, $createListItemNode } = await import('@lexical/list')
  const { $createLinkNode } = await import('@lexical/link')
  const { $createCodeNode, $createCodeHighlightNode } = await import('@lexical/code')
  const { $createHashtagNode } = await import('@lexical/hashtag')
  const { $createHorizontalRuleNode } = await import('@lexical/extension')
  const text = (t, ...formats) => {
    const node = L.$createTextNode(t)
    for (const f of formats) node.toggleFormat(f)
    return node
  }
  const para = (...children) => L.$createParagraphNode().append(...children)
  const item = (...children) => $createListItemNode().append(...children)
  await lexicalDoc('lexical', () => [
    $createHeadingNode('h1').append(text('Field notes')),
    para(text('Some '), text('bold', 'bold'), text(' and '), text('italic', 'italic'), text(' text, a '),
      $createLinkNode('https://example.com/a?b=1').append(text('link')), text(' and '),
      text('inline code', 'code'), text(', '), text('struck', 'strikethrough'), text('.'),
      L.$createLineBreakNode(), text('After a break.')),
    $createHeadingNode('h2').append(text('Lists')),
    $createListNode('bullet').append(
      item(text('first')),
      item(text('second')),
      item($createListNode('bullet').append(item(text('nested one')), item(text('nested two'))))
    ),
    $createListNode('number').append(item(text('step one')), item(text('step two'))),
    $createQuoteNode().append(text('A quote with '), text('emphasis', 'italic'), text('.')),
    $createCodeNode('python').append(text(CODE)),
    para(text('The end.'))
  ])
  // What a Lexical playground user also writes: check lists, a list starting at 3, code split
  // into highlighted tokens with line breaks and tabs (what code highlighting leaves), a
  // horizontal rule, underline, and a hashtag node (a text node type collab does not know).
  const checked = (t, on) => {
    const node = item(text(t))
    node.setChecked(on)
    return node
  }
  await lexicalDoc('lexical-more', () => [
    $createHeadingNode('h3').append(text('More '), text('underlined', 'underline')),
    $createListNode('check').append(checked('done', true), checked('to do', false)),
    $createListNode('number', 3).append(item(text('third')), item(text('fourth'))),
    $createCodeNode('js').append(
      $createCodeHighlightNode('if', 'keyword'), $createCodeHighlightNode(' (x) {'),
      L.$createLineBreakNode(), L.$createTabNode(), $createCodeHighlightNode('go()'),
      L.$createLineBreakNode(), $createCodeHighlightNode('}')
    ),
    $createHorizontalRuleNode(),
    para(text('Tagged '), $createHashtagNode('#notes'), text(' here.'))
  ])
}

// ---- BlockNote: @blocknote/server-util's editor, blocksToYDoc into 'document-store' ----------
async function blocknote () {
  const { ServerBlockNoteEditor } = await import('@blocknote/server-util')
  const editor = ServerBlockNoteEditor.create()
  let n = 0
  const id = () => `block-${++n}`
  const blocks = [
    { id: id(), type: 'heading', props: { level: 1 }, content: 'Field notes' },
    {
      id: id(),
      type: 'paragraph',
      content: [
        'Some ', { type: 'text', text: 'bold', styles: { bold: true } }, ' and ',
        { type: 'text', text: 'italic', styles: { italic: true } }, ' text, a ',
        { type: 'link', href: 'https://example.com/a?b=1', content: 'link' }, ' and ',
        { type: 'text', text: 'inline code', styles: { code: true } }, ', ',
        { type: 'text', text: 'struck', styles: { strike: true } }, '.'
      ]
    },
    { id: id(), type: 'heading', props: { level: 2 }, content: 'Lists' },
    { id: id(), type: 'bulletListItem', content: 'first' },
    {
      id: id(),
      type: 'bulletListItem',
      content: 'second',
      children: [
        { id: id(), type: 'bulletListItem', content: 'nested one' },
        { id: id(), type: 'bulletListItem', content: 'nested two' }
      ]
    },
    { id: id(), type: 'numberedListItem', content: 'step one' },
    { id: id(), type: 'numberedListItem', content: 'step two' },
    { id: id(), type: 'checkListItem', props: { checked: true }, content: 'done' },
    { id: id(), type: 'checkListItem', content: 'to do' },
    { id: id(), type: 'quote', content: ['A quote with ', { type: 'text', text: 'emphasis', styles: { italic: true } }, '.'] },
    { id: id(), type: 'codeBlock', props: { language: 'python' }, content: CODE },
    { id: id(), type: 'paragraph', content: 'The end.' }
  ]
  bin('blocknote', editor.blocksToYDoc(blocks, 'document-store'))
  out('blocknote.md', await editor.blocksToMarkdownLossy(blocks))
  out('blocknote.html', (await editor.blocksToHTMLLossy(blocks)) + '\n')
}

// ---- Quill: a Quill 2 editor bound by y-quill to the Y.Text 'quill' -------------------------
async function quill () {
  const Quill = (await import('quill')).default
  const { QuillBinding } = await import('y-quill')
  const ydoc = new Y.Doc()
  const ytext = ydoc.getText('quill')
  const container = document.getElementById('editor')
  const editor = new Quill(container, {})
  const binding = new QuillBinding(ytext, editor)
  editor.setContents([
    { insert: 'Field notes' }, { insert: '\n', attributes: { header: 1 } },
    { insert: 'Some ' }, { insert: 'bold', attributes: { bold: true } }, { insert: ' and ' },
    { insert: 'italic', attributes: { italic: true } }, { insert: ' text, a ' },
    { insert: 'link', attributes: { link: 'https://example.com/a?b=1' } }, { insert: ' and ' },
    { insert: 'inline code', attributes: { code: true } }, { insert: ', ' },
    { insert: 'struck', attributes: { strike: true } }, { insert: '.\n' },
    { insert: 'Lists' }, { insert: '\n', attributes: { header: 2 } },
    { insert: 'first' }, { insert: '\n', attributes: { list: 'bullet' } },
    { insert: 'second' }, { insert: '\n', attributes: { list: 'bullet' } },
    { insert: 'nested one' }, { insert: '\n', attributes: { list: 'bullet', indent: 1 } },
    { insert: 'nested two' }, { insert: '\n', attributes: { list: 'bullet', indent: 1 } },
    { insert: 'step one' }, { insert: '\n', attributes: { list: 'ordered' } },
    { insert: 'step two' }, { insert: '\n', attributes: { list: 'ordered' } },
    { insert: 'done' }, { insert: '\n', attributes: { list: 'checked' } },
    { insert: 'to do' }, { insert: '\n', attributes: { list: 'unchecked' } },
    { insert: 'A quote with ' }, { insert: 'emphasis', attributes: { italic: true } },
    { insert: '.' }, { insert: '\n', attributes: { blockquote: true } },
    { insert: 'def f(x):' }, { insert: '\n', attributes: { 'code-block': 'python' } },
    { insert: '    return x * 2' }, { insert: '\n', attributes: { 'code-block': 'python' } },
    { insert: 'The end.\n' }
  ], 'user')
  binding.destroy()
  bin('quill', ydoc)
  out('quill.html', editor.getSemanticHTML() + '\n')
  out('quill.txt', editor.getText())
}

// ---- CodeMirror 6 (y-codemirror.next) and Monaco (y-monaco): a plain Y.Text -----------------
function plain (name, root, content) {
  const ydoc = new Y.Doc()
  const ytext = ydoc.getText(root)
  ytext.insert(0, content)
  ytext.delete(0, 2) // edits and deletions, as an editor leaves them
  ytext.insert(0, content.slice(0, 2))
  bin(name, ydoc)
  out(`${name}.txt`, ytext.toString())
}

await prosemirror()
await tiptap()
await lexical()
await blocknote()
await quill()
plain('codemirror', 'codemirror', '# Notes\n\nconst x = 1 < 2 && "<b>"\n\tindented\n')
plain('monaco', 'monaco', 'function f () {\n  return 42\n}\n')
process.exit(0)
