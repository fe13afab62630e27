import { describe, expect, test } from 'vitest'
import { CLOSE_CODES, closePolicy, renamedTo } from '../src/closecodes.js'

describe('closePolicy', () => {
  test('codes where retrying cannot help stop for good', () => {
    for (const code of [1002, 1003, 1007, 1008, 1009, 4400, 4401, 4403, 4409, 4410, 4413]) {
      expect(closePolicy(code).action, String(code)).toBe('stop')
    }
  })
  test('transient codes are retried, a full server pauses first', () => {
    for (const code of [1001, 1011, 1013]) expect(closePolicy(code).action).toBe('retry')
    for (const code of [4503]) {
      const policy = closePolicy(code)
      expect(policy.action).toBe('pause')
      expect(policy.pauseMs).toBeGreaterThan(0)
    }
  })
  test('a dropped connection and unknown codes are retried without a message', () => {
    for (const code of [1000, 1005, 1006, 4999]) {
      expect(closePolicy(code)).toEqual({ action: 'retry', message: null })
    }
  })
  test('every stop and pause says something in plain words', () => {
    for (const [code, policy] of Object.entries(CLOSE_CODES)) {
      expect(policy.message, code).toMatch(/^[A-Z].*[.…]$/)
    }
  })
  test('a renamed close names the new name, when it fits', () => {
    expect(renamedTo('renamed to team/new notes')).toBe('team/new notes')
    expect(renamedTo('renamed to renamed to x')).toBe('renamed to x')
    expect(renamedTo('renamed (the new name is too long for a close reason: see the document list)')).toBeNull()
    expect(renamedTo('renamed to ')).toBeNull()
    expect(renamedTo('')).toBeNull()
  })
  test('only a deleted or renamed document drops the local copy', () => {
    expect(closePolicy(4410).discardLocal).toBe(true)
    expect(closePolicy(4409).discardLocal).toBe(true)
    expect(closePolicy(1007, 'update carries content of a deleted document')).toMatchObject({
      action: 'stop',
      discardLocal: true,
    })
    expect(closePolicy(1007, 'not a Yjs v1 update').discardLocal).toBeFalsy()
    expect(closePolicy(1011).discardLocal).toBeFalsy()
  })
})
