import { expect, test } from 'vitest'
import { fallbackFilename, filenameFrom } from '../src/filenames.js'

test('filename* (RFC 5987) wins over the plain filename', () => {
  expect(filenameFrom(`attachment; filename="notes.md"; filename*=UTF-8''caf%C3%A9%20notes.md`)).toBe('café notes.md')
})
test('the plain filename, quoted or not', () => {
  expect(filenameFrom('attachment; filename="notes v2.html"')).toBe('notes v2.html')
  expect(filenameFrom('attachment; filename=notes.md')).toBe('notes.md')
})
test('no usable name gives null', () => {
  expect(filenameFrom(null)).toBeNull()
  expect(filenameFrom('attachment')).toBeNull()
  expect(filenameFrom('attachment; filename=".."')).toBeNull()
})
test('a broken filename* falls back to the plain one', () => {
  expect(filenameFrom(`attachment; filename*=UTF-8''%E0%A4%A; filename="plain.md"`)).toBe('plain.md')
})
test('folders and control characters never reach the file name', () => {
  expect(filenameFrom('attachment; filename="../../etc/passwd"')).toBe('passwd')
  expect(filenameFrom(`attachment; filename*=UTF-8''a%0Ab.md`)).toBe('ab.md')
})
test('the fallback is the last segment of the name with the format extension', () => {
  expect(fallbackFilename('team/notes', 'markdown')).toBe('notes.md')
  expect(fallbackFilename('team/notes', 'html')).toBe('notes.html')
  expect(fallbackFilename('team/..', 'markdown')).toBe('document.md')
  expect(fallbackFilename('x', 'unknown')).toBe('x.txt')
})
