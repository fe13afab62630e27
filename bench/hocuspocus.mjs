// Starts a Hocuspocus server for scripts/bench: HOST and PORT from the environment; with
// SQLITE_DB set, its SQLite extension persists documents to that file (the bench's "+sqlite"
// variant). Copied next to node_modules in bench/peers/npm before it runs.
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || '1234')
const extensions = process.env.SQLITE_DB ? [new SQLite({ database: process.env.SQLITE_DB })] : []

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
console.log(`hocuspocus listening on ${host}:${port}${process.env.SQLITE_DB ? ' with SQLite' : ''}`)
