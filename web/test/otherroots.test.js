import { expect, test } from 'vitest'
import * as Y from 'yjs'
import { otherRoots } from '../src/otherroots.js'

/** A document as the editor receives it: decoded from another client's update. */
function received(/** @type {(doc: Y.Doc) => void} */ write) {
  const writer = new Y.Doc()
  write(writer)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(writer))
  return doc
}

test('a Y.Text and a Y.Map written by other clients are named, sorted', () => {
  const doc = received((w) => {
    w.getText('text').insert(0, 'plain words')
    w.getMap('meta').set('title', 'Notes')
  })
  expect(otherRoots(doc, 'default')).toEqual(['meta', 'text'])
})
test("the editor's own root is not named, nor an emptied one", () => {
  const doc = received((w) => {
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText('rich')])
    w.getXmlFragment('default').push([paragraph])
    w.getText('gone').insert(0, 'x')
    w.getText('gone').delete(0, 1)
  })
  expect(otherRoots(doc, 'default')).toEqual([])
})
test('an empty document has none', () => {
  expect(otherRoots(new Y.Doc(), 'default')).toEqual([])
})
