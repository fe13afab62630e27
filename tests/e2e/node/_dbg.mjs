import * as Y from 'yjs'
import fs from 'fs'
const input = JSON.parse(fs.readFileSync(0, 'utf8'))
const doc = new Y.Doc()
for (const hex of input.base) Y.applyUpdate(doc, Buffer.from(hex, 'hex'))
const sv = () => JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(doc))])
console.log('base sv', sv(), JSON.stringify(doc.getText('text').toString()))
for (const hex of input.updates) {
  try { Y.applyUpdate(doc, Buffer.from(hex, 'hex')) } catch (e) { console.log('THROW', e.message) }
  console.log('after', hex.slice(0, 20), 'sv', sv(), JSON.stringify(doc.getText('text').toString()))
  const p = doc.store.pendingStructs
  if (p) { console.log(' missing', JSON.stringify([...p.missing])); const d = Y.decodeUpdateV2(p.update); for (const s of d.structs) console.log('   ', s.constructor.name, s.id.client, s.id.clock, s.length, s.origin ? JSON.stringify(s.origin) : '', s.rightOrigin ? JSON.stringify(s.rightOrigin) : '') }
  if (doc.store.pendingDs) console.log(' pendingDs', JSON.stringify(Y.decodeUpdateV2(doc.store.pendingDs).ds))
}
