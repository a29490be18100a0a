// gpoll.js in a page that sleeps and wakes, under Node with a stand-in `document`
// and `window` and a fetch that never answers a poll: a poll whose deadline passed
// while the timers slept is closed and polled again at once on `visibilitychange`
// (a request timeout, not a failure: no backoff), and `online` re-polls the same way.
// Exits 0 when all holds; an assertion's message otherwise. Run by GPollJSTests.
import assert from 'node:assert/strict'

const doc = new EventTarget()
doc.visibilityState = 'visible'
globalThis.document = doc
globalThis.window = new EventTarget()
const { events } = await import(process.argv[2])

const polls = []
const fakeFetch = (url, init) => new Promise((resolve, reject) => {
  if (url.endsWith('?client-id=0')) {
    resolve(new Response(JSON.stringify({ 'client-id': '0$abcdefghijk', 'poll-timeout': 30 })))
    return
  }
  polls.push(url)
  init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
})
const settle = () => new Promise((resolve) => setTimeout(resolve, 100))

const controller = new AbortController()
const seen = []
const loop = (async () => {
  for await (const event of events('http://gpoll.invalid/poll', { signal: controller.signal, fetch: fakeFetch })) seen.push(event.type)
})()
await settle()
assert.equal(polls.length, 1, 'one poll in flight after the handshake')

doc.dispatchEvent(new Event('visibilitychange'))
await settle()
assert.equal(polls.length, 1, 'a wake before the deadline leaves the poll alone')

// The tab slept 100 s: the poll's 35 s deadline timer has not fired yet.
const realNow = Date.now
Date.now = () => realNow() + 100_000
doc.dispatchEvent(new Event('visibilitychange'))
await settle()
assert.equal(polls.length, 2, 'an overdue poll is closed and polled again at once')
assert.deepEqual(seen, ['registered'], 'no backoff: a late deadline is not a failure')

window.dispatchEvent(new Event('online'))
await settle()
assert.equal(polls.length, 3, 'back online: the poll on the old network is replaced at once')
assert.deepEqual(seen, ['registered'])
Date.now = realNow

controller.abort()
await loop
console.log('ok')
