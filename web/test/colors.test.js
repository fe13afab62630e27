import { expect, test } from 'vitest'
import { PALETTE, distinctColor } from '../src/colors.js'

const [red, orange, yellow] = PALETTE

test('a person keeps their colour when no one else shows it', () => {
  expect(distinctColor(red, 5, [[5, red], [9, orange]])).toBe(red)
})
test('the person with the higher client id yields, to the first free colour', () => {
  expect(distinctColor(red, 9, [[5, red], [9, red]])).toBe(orange)
  expect(distinctColor(red, 5, [[5, red], [9, red]])).toBe(red)
  expect(distinctColor(red, 9, [[5, red], [7, orange], [9, red]])).toBe(yellow)
})
test('colours compare without case; bad colours are ignored', () => {
  expect(distinctColor(red, 9, [[5, red.toUpperCase()]])).toBe(orange)
  expect(distinctColor(red, 9, [[5, 'red'], [6, undefined]])).toBe(red)
})
test('with more people than colours the remembered colour stays', () => {
  /** @type {[number, string][]} */
  const everyone = PALETTE.map((color, i) => [i, color])
  expect(distinctColor(red, 99, everyone)).toBe(red)
})
