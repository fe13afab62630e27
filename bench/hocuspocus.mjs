// Starts a Hocuspocus server for scripts/bench: HOST and PORT from the environment; with
// SQLITE_DB set, its SQLite extension persists documents to that file (the bench's "+sqlite"
// variant); with REDIS_URL set (redis://host:port), @hocuspocus/extension-redis makes it one
// of several instances serving the same documents (the bench's "-2nodes" variant). Copied
// next to node_modules in bench/peers/npm before it runs.
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'
import { Redis } from '@hocuspocus/extension-redis'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || '1234')
const extensions = process.env.SQLITE_DB ? [new SQLite({ database: process.env.SQLITE_DB })] : []
if (process.env.REDIS_URL) {
  const redis = new URL(process.env.REDIS_URL)
  extensions.push(new Redis({ host: redis.hostname, port: Number(redis.port || '6379') }))
}

const server = new Server({
  address: host,
  port,
  quiet: true,
  // The default closes a connection after 60 s without a message; the bench's readers and
  // idle clients never write, so allow them to stay for the whole scenario.
  timeout: 600_000,
  extensions
})

await server.listen()
const extra = [process.env.SQLITE_DB && 'SQLite', process.env.REDIS_URL && 'Redis'].filter(Boolean)
console.log(`hocuspocus listening on ${host}:${port}${extra.length ? ' with ' + extra.join(', ') : ''}`)
