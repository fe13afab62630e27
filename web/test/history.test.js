// @ts-check
import { describe, expect, it } from 'vitest'

import { describeVersion, previewRows, versionsPath } from '../src/history.js'

const version = {
  id: 7, document: 'team/notes', created_at: '2026-12-07T04:00:00.000Z', label: null,
  author: null, automatic: true, size_bytes: 10,
}

describe('history', () => {
  it('names a version by its label, else by its kind', () => {
    const iso = (/** @type {string} */ t) => t
    expect(describeVersion(version, iso)).toEqual({
      title: 'Automatic version', details: '2026-12-07T04:00:00.000Z · automatic', kind: 'Automatic',
    })
    const named = { ...version, label: 'before review', author: 'ann', automatic: false }
    expect(describeVersion(named, iso)).toEqual({
      title: 'before review', details: '2026-12-07T04:00:00.000Z · by ann · saved', kind: 'Saved',
    })
  })

  it('marks the blocks only in the version and those added since', () => {
    const rows = previewRows([
      { op: 'equal', text: 'kept' },
      { op: 'removed', text: 'only then' },
      { op: 'added', text: 'new since' },
    ])
    expect(rows.map((r) => r.change)).toEqual(['same', 'gone', 'new'])
    expect(rows.map((r) => r.text)).toEqual(['kept', 'only then', 'new since'])
  })

  it('builds the API paths with each name segment encoded', () => {
    expect(versionsPath('team/q4 plan', 3, 'diff')).toBe('/api/documents/team/q4%20plan/versions/3/diff')
  })
})
