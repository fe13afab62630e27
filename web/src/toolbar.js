// @ts-check
// The formatting toolbar: one button per Tiptap command, pressed state, and the ARIA toolbar
// keyboard pattern (one Tab stop; arrow keys, Home and End move between buttons).
import { h } from './dom.js'

/** @typedef {import('@tiptap/core').Editor} Editor */
/** @typedef {import('@tiptap/core').ChainedCommands} Chain */
/** @typedef {ReturnType<Editor['can']>} Can */
/**
 * @typedef {{id: string, text: string, label: string, keys: string,
 *   run: (c: Chain) => Chain, active?: (e: Editor) => boolean, can?: (c: Can) => boolean}} Tool
 */

const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)

/**
 * Tiptap's "Mod-Shift-8" as aria-keyshortcuts and a readable hint.
 * @param {string} keys
 */
export function shortcut(keys, mac = IS_MAC) {
  const parts = keys.split('-')
  const aria = parts.map((p) => (p === 'Mod' ? (mac ? 'Meta' : 'Control') : p)).join('+')
  /** @type {Record<string, string>} */
  const names = { Mod: mac ? '⌘' : 'Ctrl', Shift: 'Shift', Alt: mac ? '⌥' : 'Alt' }
  const text = parts.map((p) => names[p] || p.toUpperCase()).join('+')
  return { aria, text }
}

/** The toolbar, in order; null is a separator. Shortcuts are Tiptap's defaults. */
/** @type {(Tool | null)[]} */
const TOOLS = [
  { id: 'heading1', text: 'H1', label: 'Heading 1', keys: 'Mod-Alt-1',
    run: (c) => c.toggleHeading({ level: 1 }), active: (e) => e.isActive('heading', { level: 1 }) },
  { id: 'heading2', text: 'H2', label: 'Heading 2', keys: 'Mod-Alt-2',
    run: (c) => c.toggleHeading({ level: 2 }), active: (e) => e.isActive('heading', { level: 2 }) },
  { id: 'heading3', text: 'H3', label: 'Heading 3', keys: 'Mod-Alt-3',
    run: (c) => c.toggleHeading({ level: 3 }), active: (e) => e.isActive('heading', { level: 3 }) },
  null,
  { id: 'bold', text: 'B', label: 'Bold', keys: 'Mod-b',
    run: (c) => c.toggleBold(), active: (e) => e.isActive('bold') },
  { id: 'italic', text: 'I', label: 'Italic', keys: 'Mod-i',
    run: (c) => c.toggleItalic(), active: (e) => e.isActive('italic') },
  { id: 'strike', text: 'S', label: 'Strikethrough', keys: 'Mod-Shift-s',
    run: (c) => c.toggleStrike(), active: (e) => e.isActive('strike') },
  { id: 'code', text: '</>', label: 'Inline code', keys: 'Mod-e',
    run: (c) => c.toggleCode(), active: (e) => e.isActive('code') },
  null,
  { id: 'bulletList', text: '• List', label: 'Bulleted list', keys: 'Mod-Shift-8',
    run: (c) => c.toggleBulletList(), active: (e) => e.isActive('bulletList') },
  { id: 'orderedList', text: '1. List', label: 'Numbered list', keys: 'Mod-Shift-7',
    run: (c) => c.toggleOrderedList(), active: (e) => e.isActive('orderedList') },
  { id: 'blockquote', text: '❝ Quote', label: 'Quote', keys: 'Mod-Shift-b',
    run: (c) => c.toggleBlockquote(), active: (e) => e.isActive('blockquote') },
  { id: 'codeBlock', text: '{ } Code', label: 'Code block', keys: 'Mod-Alt-c',
    run: (c) => c.toggleCodeBlock(), active: (e) => e.isActive('codeBlock') },
  null,
  { id: 'undo', text: '↶', label: 'Undo', keys: 'Mod-z', run: (c) => c.undo(), can: (c) => c.undo() },
  { id: 'redo', text: '↷', label: 'Redo', keys: 'Mod-Shift-z', run: (c) => c.redo(), can: (c) => c.redo() },
]

/**
 * Builds the toolbar. Buttons act on `getEditor()` and stay disabled until `update` enables them.
 * @param {() => Editor | null} getEditor
 * @returns {{element: HTMLElement, update: (editor: Editor, editable: boolean) => void}}
 */
export function createToolbar(getEditor) {
  /** @type {Map<Tool, HTMLButtonElement>} */
  const buttons = new Map()
  const element = h('div', {
    class: 'toolbar', role: 'toolbar', 'aria-label': 'Formatting', 'aria-controls': 'editor',
  })
  for (const tool of TOOLS) {
    if (!tool) {
      element.append(h('span', { class: 'toolbar-sep', 'aria-hidden': 'true' }))
      continue
    }
    const keys = shortcut(tool.keys)
    const button = /** @type {HTMLButtonElement} */ (h('button', {
      type: 'button',
      class: `tool tool-${tool.id}`,
      'data-tool': tool.id,
      'aria-keyshortcuts': keys.aria,
      'aria-pressed': tool.active ? 'false' : null,
      title: `${tool.label} (${keys.text})`,
      disabled: true,
    },
    // The short glyph is for the eye; the accessible name is the plain label.
    h('span', { 'aria-hidden': 'true' }, tool.text),
    h('span', { class: 'visually-hidden' }, tool.label)))
    // Keep the editor's selection: act on mousedown without moving focus.
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', () => {
      const editor = getEditor()
      if (!editor || !editor.isEditable) return
      tool.run(editor.chain().focus()).run()
    })
    buttons.set(tool, button)
    element.append(button)
  }

  const all = [...buttons.values()]
  let rovingIndex = 0
  const enabled = () => all.filter((b) => !b.disabled)
  function updateRoving() {
    const usable = enabled()
    if (usable.length === 0) return
    const current = all[rovingIndex]
    const target = current && !current.disabled ? current : usable[0]
    for (const b of all) b.tabIndex = b === target ? 0 : -1
  }
  element.addEventListener('keydown', (event) => {
    const usable = enabled()
    const index = usable.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement))
    if (index < 0 || usable.length === 0) return
    let next = -1
    if (event.key === 'ArrowRight') next = (index + 1) % usable.length
    else if (event.key === 'ArrowLeft') next = (index - 1 + usable.length) % usable.length
    else if (event.key === 'Home') next = 0
    else if (event.key === 'End') next = usable.length - 1
    if (next < 0) return
    event.preventDefault()
    rovingIndex = all.indexOf(usable[next])
    updateRoving()
    usable[next].focus()
  })
  element.addEventListener('focusin', (event) => {
    const index = all.indexOf(/** @type {HTMLButtonElement} */ (event.target))
    if (index >= 0) {
      rovingIndex = index
      updateRoving()
    }
  })

  /**
   * @param {Editor} editor
   * @param {boolean} editable
   */
  function update(editor, editable) {
    for (const [tool, button] of buttons) {
      let on = editable
      if (on && tool.can) {
        try {
          on = tool.can(editor.can())
        } catch {
          on = false
        }
      }
      button.disabled = !on
      if (tool.active) button.setAttribute('aria-pressed', tool.active(editor) ? 'true' : 'false')
    }
    updateRoving()
  }

  return { element, update }
}
