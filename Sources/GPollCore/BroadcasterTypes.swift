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
struct ClientRecord: Sendable {
    let id: ClientID
    /// Sequence number of the next log message this client is owed.
    var cursor: UInt64
    /// How many handed-back messages wait before the log part (see `BroadcasterState.returned`).
    var returnedCount = 0
    var waitingPoll: PollToken?
    /// Bumped whenever an idle period starts or a poll starts waiting, so that
    /// older idle deadlines of this client no longer count.
    var idleEpoch: UInt64 = 0

    /// Where the queue would start if handed-back messages were log entries:
    /// the client holds `nextSequence - effectiveCursor` messages.
    var effectiveCursor: UInt64 { cursor - UInt64(returnedCount) }
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
    /// Answer 200 with this message now.
    case deliver(Message)
    /// Keep the poll open; if `superseded` is set, answer that older poll 204 now.
    case wait(superseded: PollToken?)
    /// Answer 404: no live client has this id.
    case notFound
}

/// A message for a waiting poll: write it as the poll's 200 answer.
public struct Delivery<Message: Sendable>: Sendable {
    public let token: PollToken
    public let client: ClientID
    public let message: Message

    @inlinable
    public init(token: PollToken, client: ClientID, message: Message) {
        self.token = token
        self.client = client
        self.message = message
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
