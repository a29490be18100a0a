// gpoll.js: a gpoll/1.1 client for browsers and Node 20 or later, on `fetch` and
// `AbortController`, with no dependencies. It is the client algorithm of the Spec
// (Spec/gpoll-1.md section 19.3, the states of 19.4), the same rules and events as
// the Swift client (Sources/GPollClient/ClientStateMachine.swift); each rule cites
// its requirement.
//
//   import { subscribe, events } from './gpoll.js'
//   const sub = subscribe(url, { onMessage: (m) => show(m.text), onEvent: (e) => log(e.type) })
//   sub.close()
//
//   for await (const event of events(url, { signal })) { ... }

/** The Spec's bounds on the backoff (CL-16) and its defaults (section 19.3). */
const BACKOFF_BASE_RANGE = [0.1, 1]
const BACKOFF_CAP_RANGE = [10, 300]
const DEFAULT_BACKOFF = { base: 1, cap: 60 }
/** CL-15: a poll's deadline is at least T + 5 s. */
const POLL_DEADLINE_MARGIN_SECONDS = 5
/** CL-26: at least 60 s while T is unknown or 0. */
const UNKNOWN_TIMEOUT_POLL_DEADLINE_SECONDS = 60
const HANDSHAKE_DEADLINE_SECONDS = 60
/** CL-17 allows capping a longer `Retry-After` at 600 s. */
const MAXIMUM_RETRY_AFTER_SECONDS = 600
/** Node's error codes for a connection that could not be made at all. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT',
])

/** A message as the application gets it: its bytes always, its text decoded on first use. */
export class GPollMessage {
  #text
  /**
   * @param {Uint8Array} bytes
   * @param {bigint | undefined} sequence its `GPoll-Sequence` under acknowledged delivery
   */
  constructor(bytes, sequence) {
    this.bytes = bytes
    this.sequence = sequence
  }

  /** The bytes as UTF-8 text, or null when they are not valid UTF-8 (messages are opaque bytes, CL-8). */
  get text() {
    if (this.#text === undefined) {
      try {
        this.#text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(this.bytes)
      } catch {
        this.#text = null
      }
    }
    return this.#text
  }

  /** The text parsed as JSON; throws when the message is not UTF-8 JSON. */
  json() {
    const text = this.text
    if (text === null) throw new SyntaxError('the message is not UTF-8 text')
    return JSON.parse(text)
  }
}

/**
 * The events of a client, in the order things happen, as an async iterator. The next
 * poll goes out when the consumer asks for the next event, so a message is
 * acknowledged (CL-22) only after the consumer has had it. The iterator ends when
 * `options.signal` aborts or the consumer stops iterating.
 */
export async function* events(url, options = {}) {
  const config = configure(url, options)
  yield* run(config)
}

/**
 * Starts a client: `onMessage(message)` for each message, `onEvent(event)` for every
 * event (messages included) and, at the end, `{ type: 'closed', reason }`. A handler
 * that returns a promise is awaited before the next poll. Returns `{ close(), closed }`.
 */
export function subscribe(url, options = {}) {
  const { onMessage, onEvent, signal, ...rest } = options
  if (onMessage !== undefined && typeof onMessage !== 'function') throw new TypeError('gpoll: onMessage must be a function')
  if (onEvent !== undefined && typeof onEvent !== 'function') throw new TypeError('gpoll: onEvent must be a function')
  const controller = new AbortController()
  if (signal) {
    if (signal.aborted) controller.abort()
    else signal.addEventListener('abort', () => controller.abort(), { once: true })
  }
  // Bad options are the caller's error, thrown here rather than in the loop.
  const config = configure(url, { ...rest, signal: controller.signal })
  const closed = (async () => {
    let ending = { type: 'closed', reason: 'closed by the application' }
    try {
      for await (const event of run(config)) {
        if (event.type === 'message' && onMessage) await onMessage(event.message)
        if (onEvent) await onEvent(event)
      }
    } catch (error) {
      // A handler threw: the client stops rather than acknowledge a message the application did not take.
      ending = { type: 'closed', reason: `a handler threw: ${error?.message ?? error}`, error }
    }
    if (onEvent) {
      try { await onEvent(ending) } catch { /* the last event; nothing left to stop */ }
    }
  })()
  return {
    close() { controller.abort() },
    /** Settles when the client has stopped and reported `closed`. */
    closed,
  }
}

/** Percent-encodes every byte that is not unreserved, `$` included (CL-6, CL-7). */
export function encodeQueryValue(text) {
  let encoded = ''
  for (const byte of new TextEncoder().encode(text)) {
    const unreserved = (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
    encoded += unreserved ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return encoded
}

/**
 * CL-4: a handshake answer is a JSON object with exactly one member `client-id`, a
 * string of 10 bytes or more, whatever the order, whitespace and other members.
 * Returns `{ id, settings }` or `{ problem }`.
 */
export function readHandshakeAnswer(bytes) {
  let text
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return { problem: 'the body is not UTF-8' }
  }
  let object
  try {
    object = JSON.parse(text)
  } catch {
    return { problem: 'the body is not JSON' }
  }
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return { problem: 'the body is not a JSON object' }
  // JSON.parse keeps the last of repeated names; the rule is about the text.
  const count = topLevelNames(text).filter((name) => name === 'client-id').length
  if (count === 0) return { problem: 'the object has no member "client-id"' }
  if (count > 1) return { problem: 'the object has more than one member "client-id"' }
  const id = object['client-id']
  if (typeof id !== 'string') return { problem: 'the member "client-id" is not a string' }
  if (new TextEncoder().encode(id).length < 10) return { problem: 'the client-id is shorter than 10 bytes' }
  return { id, settings: readSettings(object) }
}

/** Section 17: the advertised settings, each optional (absent means unknown); unknown members are ignored. */
function readSettings(object) {
  const seconds = (value) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined)
  const buffer = object['client-buffer']
  const extensions = Array.isArray(object.extensions) ? object.extensions.filter((name) => typeof name === 'string') : []
  return {
    version: typeof object.gpoll === 'string' ? object.gpoll : undefined,
    pollTimeout: seconds(object['poll-timeout']),
    clientBuffer: Number.isInteger(buffer) && buffer >= 1 ? buffer : undefined,
    idleExpiry: seconds(object['idle-expiry']),
    extensions,
  }
}

/** The member names of a top-level JSON object, as decoded strings, repeats included. `text` is valid JSON. */
function topLevelNames(text) {
  const names = []
  let depth = 0
  let expectingName = false
  for (let index = 0; index < text.length; index++) {
    const character = text[index]
    if (character === '"') {
      let end = index + 1
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      if (depth === 1 && expectingName) {
        names.push(JSON.parse(text.slice(index, end + 1)))
        expectingName = false
      }
      index = end
    } else if (character === '{' || character === '[') {
      depth += 1
      if (depth === 1) expectingName = true
    } else if (character === '}' || character === ']') {
      depth -= 1
    } else if (character === ',' && depth === 1) {
      expectingName = true
    }
  }
  return names
}

/** CL-17: delay-seconds or an HTTP-date, in seconds from `nowMs`; null when it is neither. */
export function retryAfterSeconds(value, nowMs = Date.now()) {
  if (value === null || value === undefined) return null
  const text = value.trim()
  if (/^[0-9]+$/.test(text)) return Number(text)
  const date = Date.parse(text)
  if (Number.isNaN(date)) return null
  // HTTP-dates have whole seconds: round up, so that the wait never ends before the date.
  return Math.max(0, Math.ceil((date - nowMs) / 1000))
}

function configure(url, options) {
  let endpoint
  try {
    endpoint = new URL(url)
  } catch {
    throw new TypeError(`gpoll: not a URL: ${url}`)
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new TypeError(`gpoll: the endpoint must be http or https, got ${endpoint.protocol}`)
  endpoint.hash = ''
  const backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) }
  if (!(backoff.base >= BACKOFF_BASE_RANGE[0] && backoff.base <= BACKOFF_BASE_RANGE[1])) {
    throw new RangeError(`gpoll: the backoff base must be between 0.1 s and 1 s (CL-16), got ${backoff.base}`)
  }
  if (!(backoff.cap >= BACKOFF_CAP_RANGE[0] && backoff.cap <= BACKOFF_CAP_RANGE[1])) {
    throw new RangeError(`gpoll: the backoff cap must be between 10 s and 300 s (CL-16), got ${backoff.cap}`)
  }
  const pollTimeout = options.pollTimeout
  if (pollTimeout !== undefined && !(typeof pollTimeout === 'number' && pollTimeout >= 0 && Number.isFinite(pollTimeout))) {
    throw new RangeError(`gpoll: pollTimeout must be a number of seconds of 0 or more, got ${pollTimeout}`)
  }
  const fetchFunction = options.fetch ?? globalThis.fetch
  if (typeof fetchFunction !== 'function') throw new TypeError('gpoll: no fetch: pass options.fetch, or run on Node 20 or later or in a browser')
  return {
    endpoint,
    backoff,
    pollTimeout,
    ack: options.ack ?? true,
    // Called as a plain function: a browser's fetch called as a method of another
    // object (config.fetch(...)) throws 'Illegal invocation'.
    fetch: (input, init) => fetchFunction(input, init),
    credentials: options.credentials,
    signal: options.signal ?? new AbortController().signal,
  }
}

/** The endpoint's URL with `client-id=<value>` (and more items) after its own query, if any. */
function target(endpoint, items) {
  const query = items.map(([name, value]) => `${name}=${value}`).join('&')
  return `${endpoint.origin}${endpoint.pathname}${endpoint.search ? endpoint.search + '&' : '?'}${query}`
}

const monotonic = () => (globalThis.performance?.now ? globalThis.performance.now() : Date.now())

/** The client algorithm of section 19.3; yields the events for the application. */
async function* run(config) {
  const { signal, backoff } = config
  const handshakeTarget = target(config.endpoint, [['client-id', '0']])  // CL-3
  /** The request in flight, to end it early when a sleeping tab wakes. */
  let inFlight = null
  /** The wait under way, to end it when its time has passed while timers slept. */
  let waiting = null

  // A request goes out with a deadline (CL-15, CL-26) and is classified when it ends.
  async function send(url, deadlineSeconds, isPoll) {
    const controller = new AbortController()
    let abortedBecause = null
    const stop = () => { abortedBecause = 'closed'; controller.abort() }
    signal.addEventListener('abort', stop)
    const deadlineAt = Date.now() + deadlineSeconds * 1000
    const expire = () => { abortedBecause = 'timeout'; controller.abort() }
    const timer = setTimeout(expire, deadlineSeconds * 1000)
    inFlight = { deadlineAt, isPoll, expire }
    const started = monotonic()
    try {
      // Redirects are not followed (CL-18); a browser gives them as an opaque redirect.
      const response = await config.fetch(url, {
        method: 'GET', redirect: 'manual', cache: 'no-store', signal: controller.signal,
        ...(config.credentials ? { credentials: config.credentials } : {}),
      })
      // The deadline covers the body too: a 200 can be lost in the middle of it.
      const body = new Uint8Array(await response.arrayBuffer())
      const redirect = response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)
      return {
        kind: 'response',
        status: response.status,
        statusLine: redirect && response.status === 0 ? 'a redirect' : `${response.status} ${response.statusText ?? ''}`.trim(),
        redirect,
        retryAfter: retryAfterSeconds(response.headers.get('retry-after')),
        sequence: response.headers.get('gpoll-sequence'),
        reason: response.headers.get('gpoll-reason'),
        body,
        elapsed: (monotonic() - started) / 1000,
      }
    } catch (error) {
      if (abortedBecause === 'closed' || signal.aborted) return { kind: 'closed' }
      // A deadline timer that fires late (a sleeping tab, a suspended laptop) is a
      // request timeout like any other, and so is a request that failed after its deadline.
      if (abortedBecause === 'timeout' || Date.now() >= deadlineAt) return { kind: 'timeout' }
      const code = error?.cause?.code
      const detail = code ?? error?.cause?.message ?? error?.message ?? String(error)
      return { kind: UNREACHABLE_CODES.has(code) ? 'unreachable' : 'lost', detail }
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', stop)
      inFlight = null
    }
  }

  function pause(seconds) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        waiting = null
        resolve()
      }
      const timer = setTimeout(done, seconds * 1000)
      signal.addEventListener('abort', done)
      waiting = { dueAt: Date.now() + seconds * 1000, done }
    })
  }

  // A tab that was hidden or offline may have slept through its timers: a poll past
  // its deadline is closed and polled again at once, and a wait whose time has come
  // ends now. A wait is never cut short, so CL-16 and CL-17 hold.
  function wake(why) {
    if (inFlight && (Date.now() >= inFlight.deadlineAt || (why === 'online' && inFlight.isPoll))) inFlight.expire()
    if (waiting && Date.now() >= waiting.dueAt) waiting.done()
  }
  const unwatch = watchWakeups(wake)

  let polling = false  // REGISTERING or POLLING
  let id = null
  let failures = 0  // the n of the backoff (CL-16)
  let lostPolls = 0  // CL-20
  let early204s = 0  // CL-12
  let freshID = false  // a 404 to the first poll of a new id is a failure (section 19.2)
  let hadID = false
  let gap = null  // why the client registers again
  let pollTimeout = config.pollTimeout  // T: advertised, else configured, else unknown
  let usesAck = false
  let acknowledged = 0n  // the highest GPoll-Sequence received for this id (CL-22)

  // CL-16: the n-th consecutive delay is uniform in [0, min(cap, base × 2^(n−1))].
  const backOff = (reason) => {
    failures += 1
    const ceiling = Math.min(backoff.cap, backoff.base * 2 ** Math.min(failures - 1, 30))
    return { type: 'backoff', seconds: Math.random() * ceiling, reason }
  }
  // CL-17: no request before the Retry-After delay, capped at 600 s.
  const retryLater = (answer) => ({
    type: 'backoff', seconds: Math.min(answer.retryAfter, MAXIMUM_RETRY_AFTER_SECONDS), reason: `${answer.statusLine} (Retry-After)`,
  })
  const asksToRetryLater = (answer) => (answer.status === 429 || answer.status === 503) && answer.retryAfter !== null
  // CL-15: at least T + 5 s when T is known and not 0; CL-26: 60 s or more otherwise.
  const pollDeadline = () => (pollTimeout > 0 ? pollTimeout + POLL_DEADLINE_MARGIN_SECONDS : UNKNOWN_TIMEOUT_POLL_DEADLINE_SECONDS)
  // Spec section 2: an early 204 comes sooner than T − 1 s (T known), within 1 s (T unknown); with T = 0 every 204 is early.
  const isEarly = (elapsed) => (pollTimeout === undefined ? elapsed < 1 : pollTimeout === 0 ? true : elapsed < pollTimeout - 1)
  const registerAgain = (cause) => { gap = cause; polling = false; early204s = 0 }

  try {
    while (!signal.aborted) {
      let wait = null  // a backoff or Retry-After event, waited out after it is reported

      if (!polling) {
        const answer = await send(handshakeTarget, HANDSHAKE_DEADLINE_SECONDS, false)
        if (answer.kind === 'closed') break
        if (answer.kind === 'response') {
          if (asksToRetryLater(answer)) {
            wait = retryLater(answer)
          } else if (answer.redirect) {
            wait = backOff(`${answer.statusLine}: redirect not followed (CL-18)`)
          } else if (answer.status === 200) {
            const handshake = readHandshakeAnswer(answer.body)
            if (handshake.problem) {
              wait = backOff(`not a handshake answer: ${handshake.problem}`)
            } else {
              // CL-5, CL-21, CL-24: keep the id, use the advertised settings, ack from 0.
              id = handshake.id
              const { settings } = handshake
              pollTimeout = settings.pollTimeout ?? config.pollTimeout
              usesAck = config.ack && settings.extensions.includes('ack')
              acknowledged = 0n
              const registration = { clientId: id, settings, acknowledgedDelivery: usesAck }
              const event = hadID
                ? { type: 'registered-again', ...registration, missed: true, cause: gap ?? 'the server no longer knows the id (404)' }  // CL-14
                : { type: 'registered', ...registration }
              hadID = true
              gap = null
              failures = 0
              lostPolls = 0
              early204s = 0
              freshID = true
              polling = true
              yield event
              continue
            }
          } else if (answer.status === 404) {
            wait = backOff('404 to the handshake: is this the endpoint\'s URL?')
          } else {
            wait = backOff(`${answer.statusLine} to the handshake`)
          }
        } else if (answer.kind === 'timeout') {
          wait = backOff(`no answer to the handshake within ${HANDSHAKE_DEADLINE_SECONDS} s`)
        } else {
          wait = backOff(`${answer.kind === 'unreachable' ? 'unreachable' : 'connection lost'}: ${answer.detail}`)
        }
      } else {
        const items = [['client-id', encodeQueryValue(id)]]  // CL-5, CL-6, CL-7
        if (usesAck) items.push(['ack', acknowledged.toString()])  // CL-22
        // CL-9: this loop awaits each poll before it sends the next: one in flight.
        const answer = await send(target(config.endpoint, items), pollDeadline(), true)
        if (answer.kind === 'closed') break
        if (answer.kind === 'timeout') continue  // not a failure: poll again at once (CL-15, CL-26)
        if (answer.kind === 'lost') {
          // CL-20: the first lost poll is repeated at once, the next ones after a backoff.
          lostPolls += 1
          if (lostPolls < 2) continue
          wait = backOff(`connection lost: ${answer.detail}`)
        } else if (answer.kind === 'unreachable') {
          wait = backOff(`unreachable: ${answer.detail}`)
        } else if (asksToRetryLater(answer)) {
          wait = retryLater(answer)
        } else if (answer.redirect) {
          wait = backOff(`${answer.statusLine}: redirect not followed (CL-18)`)
        } else if (answer.status === 200) {
          // Every 200 body is a message, the empty one included (CL-8); poll again at once (CL-11).
          failures = 0
          lostPolls = 0
          freshID = false
          early204s = 0
          if (!usesAck) {
            yield { type: 'message', message: new GPollMessage(answer.body, undefined) }
            continue
          }
          const sequence = answer.sequence !== null && /^[0-9]{1,20}$/.test(answer.sequence.trim()) ? BigInt(answer.sequence.trim()) : null
          if (sequence === null) {
            // CL-23: no sequence, no acknowledged delivery on this server: plain polls from now on.
            usesAck = false
            yield { type: 'message', message: new GPollMessage(answer.body, undefined) }
            continue
          }
          // CL-23: a sequence not above the highest received is a re-send already delivered.
          if (sequence <= acknowledged) continue
          // The next poll says ack=<sequence>; it goes out when the consumer asks for the next event.
          acknowledged = sequence
          yield { type: 'message', message: new GPollMessage(answer.body, sequence) }
          continue
        } else if (answer.status === 204) {
          const wasEarly = isEarly(answer.elapsed)
          failures = 0
          lostPolls = 0
          freshID = false
          if (wasEarly) {
            // CL-12: the first early 204 is polled again at once; the second in a row means another poller holds the id.
            early204s += 1
            if (early204s >= 2) registerAgain('another poller holds the id (two early 204s in a row)')
          } else {
            early204s = 0
          }
          continue
        } else if (answer.status === 404) {
          // CL-13: register again, never poll the old id again.
          const cause = `the server no longer knows the id (404${answer.reason ? ', ' + answer.reason : ''})`
          const misrouted = freshID
          registerAgain(cause)
          if (!misrouted) continue
          // A 404 to the first poll of an id just issued: a misrouting deployment; back off (section 19.2).
          wait = backOff('404 to the first poll of a new id')
        } else if (answer.status === 429 || answer.status >= 500) {
          wait = backOff(`${answer.statusLine} to a poll`)
        } else if (answer.status >= 400) {
          // CL-19: back off, then register again rather than poll that id again.
          registerAgain(`the server refused a poll (${answer.status})`)
          wait = backOff(`${answer.statusLine} to a poll`)
        } else {
          // Another status is not an answer to a poll: a failure (CL-16).
          wait = backOff(`${answer.statusLine} to a poll`)
        }
      }

      if (wait) {
        yield wait
        if (signal.aborted) break
        await pause(wait.seconds)
      }
    }
  } finally {
    unwatch()
  }
}

/** Calls `wake` when a page becomes visible again or the network comes back; nothing under Node. */
function watchWakeups(wake) {
  const removers = []
  const doc = globalThis.document
  if (doc && typeof doc.addEventListener === 'function') {
    const onVisibility = () => { if (doc.visibilityState !== 'hidden') wake('visible') }
    doc.addEventListener('visibilitychange', onVisibility)
    removers.push(() => doc.removeEventListener('visibilitychange', onVisibility))
  }
  const win = globalThis.window
  if (win && typeof win.addEventListener === 'function') {
    const onOnline = () => wake('online')
    const onPageShow = () => wake('visible')
    win.addEventListener('online', onOnline)
    win.addEventListener('pageshow', onPageShow)
    removers.push(() => { win.removeEventListener('online', onOnline); win.removeEventListener('pageshow', onPageShow) })
  }
  return () => { for (const remove of removers) remove() }
}
