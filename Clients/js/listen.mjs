#!/usr/bin/env node
// The line protocol of Spec section 19.8 for gpoll.js under Node 20 or later, so that
// `gpoll-conform client -- node Clients/js/listen.mjs {url}` can check it: one JSON
// object per line on standard output, in the order the application gets things;
// SIGTERM (or SIGINT) stops the client, prints `closed` and exits 0.
//
//   node Clients/js/listen.mjs [--no-ack] [--poll-timeout SECONDS] URL

import { subscribe } from './gpoll.js'

const usage = 'usage: node listen.mjs [--no-ack] [--poll-timeout SECONDS] URL'

function parseArguments(argv) {
  const options = { ack: true }
  let url
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]
    if (argument === '--no-ack') options.ack = false
    else if (argument === '--poll-timeout') options.pollTimeout = Number(argv[++index])
    else if (argument === '--help' || argument === '-h') { process.stdout.write(usage + '\n'); process.exit(0) }
    else if (argument.startsWith('-')) throw new Error(`unknown option ${argument}`)
    else if (url === undefined) url = argument
    else throw new Error(`one URL only, got also ${argument}`)
  }
  if (url === undefined) throw new Error('no URL given')
  return { url, options }
}

// Writes to a pipe are synchronous on Linux and macOS, so lines keep their order and
// nothing is lost at exit.
const print = (object) => process.stdout.write(JSON.stringify(object) + '\n')

function line(event) {
  switch (event.type) {
    case 'registered':
      // The id goes only here and in registered-again, which report to the tester (CL-25).
      return { event: 'registered', 'client-id': event.clientId }
    case 'registered-again':
      return { event: 'registered-again', 'client-id': event.clientId, missed: true, cause: event.cause }
    case 'message': {
      const { message } = event
      const members = { event: 'message', data: Buffer.from(message.bytes).toString('base64') }
      if (message.text !== null) members.text = message.text
      if (message.sequence !== undefined) members.sequence = message.sequence <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(message.sequence) : message.sequence.toString()
      return members
    }
    case 'backoff':
      return { event: 'backoff', seconds: Number(event.seconds.toFixed(3)), reason: event.reason }
    case 'closed':
      return { event: 'closed', reason: event.reason }
    default:
      return null
  }
}

let parsed
try {
  parsed = parseArguments(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`listen.mjs: ${error.message}\n${usage}\n`)
  process.exit(2)
}

let stopping = false
let subscription
try {
  subscription = subscribe(parsed.url, {
    ...parsed.options,
    onEvent(event) {
      // `closed` is printed by the signal handler with the signal's name.
      if (event.type === 'closed' && stopping) return
      const members = line(event)
      if (members) print(members)
    },
  })
} catch (error) {
  process.stderr.write(`listen.mjs: ${error.message}\n`)
  process.exit(2)
}

for (const name of ['SIGTERM', 'SIGINT']) {
  process.on(name, () => {
    stopping = true
    subscription.close()
    print({ event: 'closed', reason: name })
    process.exit(0)
  })
}

subscription.closed.then(() => { if (!stopping) process.exit(1) })
