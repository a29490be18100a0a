// Type declarations for gpoll.js, a gpoll/1.1 client for browsers and Node 20 or later.

/** A message as the application gets it: opaque bytes (CL-8), its text decoded on first use. */
export class GPollMessage {
  private constructor(bytes: Uint8Array, sequence: bigint | undefined)
  /** The message's bytes, always. */
  readonly bytes: Uint8Array
  /** Its `GPoll-Sequence` under acknowledged delivery, else undefined. */
  readonly sequence: bigint | undefined
  /** The bytes as UTF-8 text, or null when they are not valid UTF-8. */
  readonly text: string | null
  /** The text parsed as JSON; throws when the message is not UTF-8 JSON. */
  json(): unknown
}

/** What the server advertised in its handshake (Spec section 17); absent means unknown. */
export interface GPollSettings {
  version?: string
  /** T in seconds; 0 means polls may wait for ever. */
  pollTimeout?: number
  /** B. */
  clientBuffer?: number
  /** E in seconds; 0 means ids do not expire. */
  idleExpiry?: number
  extensions: string[]
}

export interface GPollRegistration {
  /** The id: a bearer secret (CL-25); do not log it. */
  clientId: string
  settings: GPollSettings
  /** True when the server offers `ack` and the client uses it. */
  acknowledgedDelivery: boolean
}

export type GPollEvent =
  | ({ type: 'registered' } & GPollRegistration)
  /** The client registered again: messages published meanwhile may have been missed (CL-14). */
  | ({ type: 'registered-again'; missed: true; cause: string } & GPollRegistration)
  | { type: 'message'; message: GPollMessage }
  /** A wait before the next request: a backoff after a failure (CL-16) or a Retry-After (CL-17). */
  | { type: 'backoff'; seconds: number; reason: string }

/** The last event of `subscribe`; `error` is what a handler threw, when one did. */
export interface GPollClosedEvent {
  type: 'closed'
  reason: string
  error?: unknown
}

export interface GPollOptions {
  /** Stops the client. */
  signal?: AbortSignal
  /** Use acknowledged delivery when the server offers it (default true). */
  ack?: boolean
  /** T in seconds when the server does not advertise it. */
  pollTimeout?: number
  /** The backoff of CL-16 in seconds: base 0.1 to 1 (default 1), cap 10 to 300 (default 60). */
  backoff?: { base?: number; cap?: number }
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch
  /** Passed to fetch: 'include' sends cookies to another origin. */
  credentials?: RequestCredentials
}

export interface GPollSubscribeOptions extends GPollOptions {
  /** Each message, once, in order; a returned promise is awaited before the next poll. */
  onMessage?: (message: GPollMessage) => void | Promise<void>
  /** Every event, messages included, and at the end `closed`. */
  onEvent?: (event: GPollEvent | GPollClosedEvent) => void | Promise<void>
}

export interface GPollSubscription {
  /** Stops the client: the poll in flight is aborted, `closed` is reported. */
  close(): void
  /** Settles when the client has stopped and reported `closed`. */
  readonly closed: Promise<void>
}

/** Starts a client at the endpoint `url`. Throws TypeError or RangeError on bad options. */
export function subscribe(url: string | URL, options?: GPollSubscribeOptions): GPollSubscription

/** The client's events as an async iterator; the next poll goes out when the next event is asked for. */
export function events(url: string | URL, options?: GPollOptions): AsyncGenerator<GPollEvent, void, undefined>

/** Percent-encodes every byte that is not an RFC 3986 unreserved character (CL-6, CL-7). */
export function encodeQueryValue(text: string): string

/** CL-4: reads a handshake answer's body. */
export function readHandshakeAnswer(bytes: Uint8Array): { id: string; settings: GPollSettings; problem?: undefined } | { problem: string; id?: undefined }

/** CL-17: a Retry-After value (delay-seconds or an HTTP-date) in seconds from now; null when unreadable. */
export function retryAfterSeconds(value: string | null | undefined, nowMs?: number): number | null
