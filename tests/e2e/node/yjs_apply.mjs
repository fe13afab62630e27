// The reference of what an update means: applies updates to Yjs documents and reports.
// stdin: JSON {"base": ["<hex>", ...], "updates": ["<hex>", ...], "texts": ["text"],
//              "each": false}
// Without "each", the base and then the updates are applied to one document in order;
// with "each", every update is applied to its own fresh document holding the base.
// stdout: JSON {"results": [{"error": null | "message", "state_vector": {client: clock},
//   "pending": bool, "texts": {name: string}, "update": "<hex of encodeStateAsUpdate>"}]}
// (one result per update with "each", else one per update for the error and one document)
import * as Y from 'yjs'

const input = JSON.parse(await new Promise((resolve) => {
  let data = ''
  process.stdin.on('data', (chunk) => { data += chunk })
  process.stdin.on('end', () => resolve(data))
}))

const fresh = () => {
  const doc = new Y.Doc()
  for (const hex of input.base || []) Y.applyUpdate(doc, Buffer.from(hex, 'hex'))
  return doc
}

const apply = (doc, hex) => {
  try {
    Y.applyUpdate(doc, Buffer.from(hex, 'hex'))
    return null
  } catch (err) {
    return String(err && err.message ? err.message : err)
  }
}

const describe = (doc, error) => {
  const texts = {}
  for (const name of input.texts || []) texts[name] = doc.getText(name).toString()
  const sv = {}
  for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(doc))) sv[client] = clock
  let update = null
  try {
    update = Buffer.from(Y.encodeStateAsUpdate(doc)).toString('hex')
  } catch (err) {
    error = error || String(err)
  }
  const pending = doc.store.pendingStructs !== null || doc.store.pendingDs !== null
  return { error, state_vector: sv, pending, texts, update }
}

let results
if (input.each) {
  results = input.updates.map((hex) => {
    const doc = fresh()
    return describe(doc, apply(doc, hex))
  })
} else {
  const doc = fresh()
  const errors = input.updates.map((hex) => apply(doc, hex))
  results = [describe(doc, errors.find((e) => e !== null) || null)]
  results[0].errors = errors
}
process.stdout.write(JSON.stringify({ results }))
