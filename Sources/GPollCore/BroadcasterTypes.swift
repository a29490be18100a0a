/// Names one poll from its arrival until it is answered; chosen by the server.
public struct PollToken: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "poll#\(rawValue)" }
}

/// One live client inside ``BroadcasterState``.
///
/// A client holds no copy of its messages: its queue is the endpoint's message
/// log from `cursor` on (every client is owed the same messages in the same
/// order), preceded by any messages handed back after a failed write.
///
/// With acknowledged delivery (`ack`), messages from `acknowledged` up to
/// `cursor` were handed out but not acknowledged: the client still holds them
/// (they count against B) and a poll with `ack=n` rewinds `cursor` to re-send
/// them. A gpoll/1 poll (no `ack`) acknowledges its answer as it hands it out,
/// so for gpoll/1 clients `acknowledged == cursor` always.
struct ClientRecord: Sendable {
    let id: ClientID
    /// Log sequence number of the client's message 1: the first one published after its handshake.
    /// A log message `s` is the client's message `s - firstSequence + 1` (its `GPoll-Sequence`).
    let firstSequence: UInt64
    /// Log sequence number of the next log message to hand out.
    var cursor: UInt64
    /// Every log message before this one is acknowledged and never handed out again.
    var acknowledged: UInt64
    /// How many handed-back messages wait before the log part (see `BroadcasterState.returned`).
    var returnedCount = 0
    var waitingPoll: PollToken?
    /// Whether the waiting poll carried `ack`: its answer then stays unacknowledged.
    var waitingPollAcknowledges = false
    /// Bumped whenever an idle period starts or a poll starts waiting, so that
    /// older idle deadlines of this client no longer count.
    var idleEpoch: UInt64 = 0

    init(id: ClientID, firstSequence: UInt64) {
        self.id = id
        self.firstSequence = firstSequence
        self.cursor = firstSequence
        self.acknowledged = firstSequence
    }

    /// Where the client's holding would start if handed-back messages were log
    /// entries: it holds `nextSequence - effectiveCursor` messages (queued, handed
    /// back, or handed out and unacknowledged), which is what B bounds.
    var effectiveCursor: UInt64 { acknowledged - UInt64(returnedCount) }

    /// The client's sequence number of log message `logSequence`.
    func clientSequence(of logSequence: UInt64) -> UInt64 { logSequence - firstSequence + 1 }

    /// The highest sequence number handed out to this client so far; 0 if none.
    var highestHandedOut: UInt64 { cursor - firstSequence }
}

/// A message handed back after a failed write, with its log sequence number so
/// that it keeps its `GPoll-Sequence` when it is handed out again.
struct ReturnedMessage<Message: Sendable>: Sendable {
    var message: Message
    var logSequence: UInt64
}

struct IdleDeadline: Sendable {
    var deadline: GPollInstant
    var client: UUIDv4
    var epoch: UInt64
}

public enum RegistrationResult: Hashable, Sendable {
    case registered(ClientID)
    case refused(RefusalReason)
}

public enum RefusalReason: Hashable, Sendable, CustomStringConvertible {
    /// Answer 503 with Retry-After (Spec section 14).
    case clientLimitReached(Int)

    public var description: String {
        switch self {
        case .clientLimitReached(let limit): return "the endpoint holds its limit of \(limit) clients"
        }
    }
}

public enum PollResult<Message: Sendable>: Sendable {
    /// Answer 200 with this message now; `sequence` is its per-client sequence number.
    case deliver(Message, sequence: UInt64)
    /// Keep the poll open; if `superseded` is set, answer that older poll 204 now.
    case wait(superseded: PollToken?)
    /// Answer 404: no live client has this id. `ended` says why, when the id is
    /// exactly that of a recently evicted or expired client; nil: unknown.
    case notFound(ended: EvictionReason?)
    /// Answer 400: `ack=n` with n above the highest sequence handed out (AK-6).
    /// Nothing changed.
    case acknowledgementTooHigh(highestHandedOut: UInt64)
    /// Answer 204 now: the endpoint is shutting down (``BroadcasterState/beginShutdown(now:)``)
    /// and nothing was queued for the client. Its `ack` still counted.
    case endNow
}

/// A message for a waiting poll: write it as the poll's 200 answer.
public struct Delivery<Message: Sendable>: Sendable {
    public let token: PollToken
    public let client: ClientID
    public let message: Message
    /// The message's per-client sequence number (`GPoll-Sequence`, AK-1).
    public let sequence: UInt64

    @inlinable
    public init(token: PollToken, client: ClientID, message: Message, sequence: UInt64) {
        self.token = token
        self.client = client
        self.message = message
        self.sequence = sequence
    }
}

public struct PublishResult<Message: Sendable>: Sendable {
    /// Waiting polls that take the message now.
    public var deliveries: [Delivery<Message>] = []
    /// Clients that had B messages queued and are gone.
    public var evicted: [ClientID] = []
    /// How many clients queued the message.
    public var queued = 0

    @inlinable public init() {}

    /// Clients the message reached, at once or queued.
    public var offeredCount: Int { deliveries.count + queued }
}

public enum ReturnResult<Message: Sendable>: Sendable {
    /// Back at the front of the client's queue.
    case requeued
    /// A poll of the client waits by now: write the message to it.
    case deliver(Delivery<Message>)
    /// The client is gone (evicted or expired); the message has no one to go to.
    case clientGone
}

public struct ExpiryResult: Hashable, Sendable {
    /// Answer each 204.
    public var timedOutPolls: [PollToken] = []
    /// Evicted for idleness.
    public var expiredClients: [ClientID] = []

    public init() {}
}

public enum EvictionReason: Hashable, Sendable {
    case bufferOverflow
    case idleExpiry
}

/// Running totals since the state machine was made, for metrics.
public struct BroadcasterStatistics: Hashable, Sendable {
    public var registeredClients: UInt64 = 0
    public var refusedHandshakes: UInt64 = 0
    public var publishedMessages: UInt64 = 0
    public var deliveredMessages: UInt64 = 0
    public var overflowEvictions: UInt64 = 0
    public var idleEvictions: UInt64 = 0
    public var timedOutPolls: UInt64 = 0
    public var notFoundPolls: UInt64 = 0

    public init() {}
}
