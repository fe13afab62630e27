import { describe, expect, test } from 'vitest'
import { decodeName, editorPath, encodeName, MAX_NAME_BYTES, nameProblem, utf8Length } from '../src/names.js'

describe('nameProblem (the server rules of collab/names.py)', () => {
  test.each(['notes', 'team/notes', 'café', '日本語/メモ', 'a%20b', 'x'.repeat(MAX_NAME_BYTES), '...', 'a.b/.c'])(
    '%s is valid',
    (name) => expect(nameProblem(name)).toBeNull(),
  )
  test.each([
    ['', /empty/],
    ['../etc', /“\.” or “\.\.”/],
    ['a/..', /“\.” or “\.\.”/],
    ['.', /“\.” or “\.\.”/],
    ['a//b', /“\/\/”/],
    ['/a', /start or end/],
    ['a/', /start or end/],
    ['a\u0000b', /control/],
    ['a\nb', /control/],
    ['a\u007fb', /control/],
    ['a\u0085b', /control/],
    ['a\ud800b', /control/],
    ['x'.repeat(MAX_NAME_BYTES + 1), /at most 255 bytes.*256/],
    ['é'.repeat(128), /256/],
  ])('%j is refused', (name, why) => expect(nameProblem(name)).toMatch(why))
})

test('utf8Length counts UTF-8 bytes', () => {
  expect(utf8Length('aé€😀')).toBe(1 + 2 + 3 + 4)
  expect(utf8Length('\ud800')).toBe(3)
})

test('names are encoded per segment and decode back', () => {
  expect(encodeName('notes/2025 plan?')).toBe('notes/2025%20plan%3F')
  expect(editorPath('a b/c')).toBe('/d/a%20b/c')
  expect(decodeName('notes/2025%20plan%3F')).toBe('notes/2025 plan?')
  expect(decodeName('bad%E0%A4%A')).toBeNull()
})
