import { expect, test } from 'vitest'
import { LINK_TEXT, SAVED_TEXT, linkState, savedState } from '../src/indicator.js'

/** @type {{state: import('../src/indicator.js').LinkState, synced: boolean, online: boolean, stopped: boolean}} */
const link = { state: 'syncing', synced: false, online: true, stopped: false }

test('link state: stopped beats offline beats the rest; syncing becomes connected once synced', () => {
  expect(linkState({ ...link, stopped: true, online: false })).toBe('stopped')
  expect(linkState({ ...link, online: false })).toBe('offline')
  expect(linkState(link)).toBe('syncing')
  expect(linkState({ ...link, synced: true })).toBe('connected')
  expect(linkState({ ...link, state: 'reconnecting', synced: true })).toBe('reconnecting')
})
test('where the edits are', () => {
  expect(savedState({ pending: false, persisted: false, persistence: true })).toBe('server')
  expect(savedState({ pending: true, persisted: true, persistence: true })).toBe('local')
  expect(savedState({ pending: true, persisted: false, persistence: true })).toBe('saving')
  expect(savedState({ pending: true, persisted: true, persistence: false })).toBe('unsaved')
  expect(SAVED_TEXT.local).toBe('Saved locally, not yet on the server')
  expect(Object.keys(LINK_TEXT)).toHaveLength(6)
})
