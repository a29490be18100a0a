import GPollCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One gpoll endpoint: a broadcaster with its own clients, served at `path`.
///
/// All protocol decisions come from GPollCore's ``BroadcasterState``; this class
/// adds a lock around it, the endpoint's single expiry timer, and the hand-off of
/// answers to the event loops of the waiting polls. The lock is held only for
/// one state-machine call; writes happen afterwards, on the polls' own loops.
///
/// ``send(_:)-(ByteBuffer)`` is thread-safe and needs no HTTP, so an application
/// (or a benchmark) can publish from anywhere.
public final class GPollEndpoint: Sendable {
    /// The path this endpoint answers at, such as `/poll`.
    public let path: String
    public let configuration: BroadcasterConfiguration

    let logger: Logger
    let metrics: EndpointMetrics
    /// Runs the expiry timer; any loop will do, the timer only takes the lock and dispatches.
    private let timerLoop: any EventLoop
    private let state: Mutex<EndpointState>

    /// Timer wake-ups are rounded up to this grain, so that a steady stream of
    /// polls (each with its own deadline) costs one wake-up per grain, not one per poll.
    static let timerGrain: UInt64 = 10_000_000

    public init(
        path: String = "/poll",
        configuration: BroadcasterConfiguration = BroadcasterConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gpoll.endpoint"),
        metrics: GPollMetrics = .system,
        uuidSource: some UUIDSource = SecureUUIDSource()
    ) throws {
        var problems = configuration.problems
        if let problem = Self.pathProblem(path) { problems.append(problem) }
        guard problems.isEmpty else { throw GPollConfigurationError(problems: problems) }
        self.path = path
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "gpoll.endpoint"] = "\(path)"
        self.logger = logger
        self.metrics = EndpointMetrics(path: path, metrics: metrics)
        self.timerLoop = eventLoopGroup.next()
        self.state = Mutex(EndpointState(machine: BroadcasterState(configuration: configuration, uuidSource: uuidSource)))
    }

    /// Why `path` cannot be an endpoint path, or nil if it can.
    public static func pathProblem(_ path: String) -> String? {
        if !path.hasPrefix("/") { return "endpoint path '\(path)' must start with '/'" }
        if path.contains("?") || path.contains("#") { return "endpoint path '\(path)' must not contain '?' or '#'" }
        if path.contains(where: { $0.isWhitespace }) { return "endpoint path '\(path)' must not contain whitespace" }
        return nil
    }

    // MARK: Queries

    public var clientCount: Int { state.withLock { $0.machine.clientCount } }
    public var waitingPollCount: Int { state.withLock { $0.machine.waitingPollCount } }
    public var statistics: BroadcasterStatistics { state.withLock { $0.machine.statistics } }

    /// How many messages wait for `id`; nil if it is not a live client.
    public func queuedMessageCount(of id: ClientID) -> Int? {
        state.withLock { $0.machine.queuedMessageCount(of: id) }
    }

    // MARK: Publishing

    /// What one publish did.
    public struct SendSummary: Hashable, Sendable {
        /// Waiting polls that were handed the message (their writes are under way).
        public var delivered: Int
        /// Clients that queued the message.
        public var queued: Int
        /// Clients evicted because B messages already waited for them.
        public var evicted: Int
    }

    /// Offers `message` to every live client. When this returns, every client
    /// registered before the call has it (queued, or on its way to its waiting poll)
    /// or has been evicted.
    @discardableResult
    public func send(_ message: ByteBuffer) -> SendSummary {
        let now = Self.now()
        let (result, arm) = state.withLock { state in
            let result = state.machine.publish(message, now: now)
            return (result, state.timerToArm())
        }
        if let arm { scheduleTimer(at: arm) }
        if !result.deliveries.isEmpty {
            LoopPollRegistries.dispatch(result.deliveries.map(PollCompletion.message), from: self)
        }
        if !result.evicted.isEmpty {
            logger.debug("evicted clients whose buffer was full", metadata: ["gpoll.evicted": "\(result.evicted.count)"])
        }
        metrics.published(result, bytes: message.readableBytes, since: now.nanoseconds)
        return SendSummary(delivered: result.deliveries.count, queued: result.queued, evicted: result.evicted.count)
    }

    /// Offers these bytes as one message; see ``send(_:)-(ByteBuffer)``.
    @discardableResult
    public func send(_ bytes: some Sequence<UInt8>) -> SendSummary {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.underestimatedCount)
        buffer.writeBytes(bytes)
        return send(buffer)
    }

    // MARK: Clients

    /// Registers a client, as a handshake does; usable without HTTP (for benchmarks).
    public func register() -> RegistrationResult {
        let now = Self.now()
        let (result, arm) = state.withLock { state in
            (state.machine.register(now: now), state.timerToArm())
        }
        if let arm { scheduleTimer(at: arm) }
        metrics.handshake(result)
        if case .refused(let reason) = result { logger.debug("handshake refused", metadata: ["gpoll.reason": "\(reason)"]) }
        return result
    }

    /// What the HTTP layer does with a poll.
    enum PollOutcome {
        /// 200 with the message, the client's message `sequence`.
        case deliver(ByteBuffer, sequence: UInt64)
        case wait
        /// 404, with the reason a `GPoll-Reason` header gives.
        case notFound(GPollReason)
        /// 400: the `ack` is above the highest sequence handed out.
        case badAcknowledgement
        /// The endpoint is shutting down: answer 204 now.
        case endNow
    }

    /// The HTTP layer's poll; `ack` is the poll's `ack=n`, nil for a gpoll/1 poll.
    func poll(_ id: ClientID, acknowledging ack: UInt64?, token: PollToken) -> PollOutcome {
        let now = Self.now()
        let (result, shuttingDown, arm) = state.withLock { state in
            let result = state.machine.poll(id, acknowledging: ack, token: token, now: now)
            if case .wait = result, state.shuttingDown {
                // Shutdown already released every poll; a late one must not wait.
                state.machine.withdraw(token, now: now)
            }
            return (result, state.shuttingDown, state.timerToArm())
        }
        if let arm { scheduleTimer(at: arm) }
        metrics.polled(result, shuttingDown: shuttingDown)
        switch result {
        case .deliver(let message, let sequence): return .deliver(message, sequence: sequence)
        case .notFound(let ended): return .notFound(ended?.wireReason ?? .unknown)
        case .acknowledgementTooHigh: return .badAcknowledgement
        case .wait(let superseded):
            if let superseded { LoopPollRegistries.dispatch([.noContent(superseded)], from: self) }
            return shuttingDown ? .endNow : .wait
        }
    }

    /// The connection of a waiting poll closed: the poll must not take a message.
    func withdraw(_ token: PollToken) {
        let now = Self.now()
        let arm = state.withLock { state in
            state.machine.withdraw(token, now: now)
            return state.timerToArm()
        }
        if let arm { scheduleTimer(at: arm) }
    }

    /// A message could not be written to its poll: back to the front of the queue,
    /// or on to a poll of that client that waits by now.
    func returnUndelivered(_ message: ByteBuffer, sequence: UInt64, to client: ClientID) {
        let now = Self.now()
        let (result, arm) = state.withLock { state in
            (state.machine.returnUndelivered(message, sequence: sequence, to: client, now: now), state.timerToArm())
        }
        if let arm { scheduleTimer(at: arm) }
        switch result {
        case .deliver(let delivery):
            metrics.delivered(1, bytes: delivery.message.readableBytes)
            LoopPollRegistries.dispatch([.message(delivery)], from: self)
        case .requeued: logger.debug("undelivered message returned to its queue", metadata: ["gpoll.client": "\(client)"])
        case .clientGone: break
        }
    }

    /// For a graceful shutdown: answers every waiting poll 204, and every later
    /// poll that would wait 204 at once. Messages already queued are still delivered.
    public func beginShutdown() {
        let now = Self.now()
        let (tokens, clients) = state.withLock { state in
            // The clients end with the service; counted once, however often this is called.
            let clients = state.shuttingDown ? 0 : state.machine.clientCount
            state.shuttingDown = true
            return (state.machine.releaseAllPolls(now: now), clients)
        }
        metrics.shutDown(releasedPolls: tokens.count, clients: clients)
        if !tokens.isEmpty {
            logger.info("released waiting polls for shutdown", metadata: ["gpoll.polls": "\(tokens.count)"])
            LoopPollRegistries.dispatch(tokens.map(PollCompletion.noContent), from: self)
        }
    }

    /// Evicts every client (a cluster node that lost messages it owed them):
    /// waiting polls end 204, and every later poll of these ids gets 404.
    public func evictAllClients() {
        let (released, evicted) = state.withLock { $0.machine.evictAll(now: Self.now()) }
        if !released.isEmpty { LoopPollRegistries.dispatch(released.map(PollCompletion.noContent), from: self) }
        if !evicted.isEmpty { logger.warning("evicted every client", metadata: ["gpoll.evicted": "\(evicted.count)"]) }
    }

    // MARK: Timer

    private func scheduleTimer(at deadline: GPollInstant) {
        timerLoop.scheduleTask(deadline: .uptimeNanoseconds(deadline.nanoseconds)) { [self] in
            self.timerFired()
        }
    }

    private func timerFired() {
        let now = Self.now()
        let (result, arm) = state.withLock { state in
            if let armed = state.timerDeadline, armed <= now { state.timerDeadline = nil }
            return (state.machine.expire(now: now), state.timerToArm())
        }
        if let arm { scheduleTimer(at: arm) }
        metrics.expired(result)
        if !result.timedOutPolls.isEmpty {
            logger.debug("polls timed out", metadata: ["gpoll.polls": "\(result.timedOutPolls.count)"])
            LoopPollRegistries.dispatch(result.timedOutPolls.map(PollCompletion.noContent), from: self)
        }
        if !result.expiredClients.isEmpty {
            logger.debug("evicted idle clients", metadata: ["gpoll.evicted": "\(result.expiredClients.count)"])
        }
    }

    static func now() -> GPollInstant {
        GPollInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds)
    }
}

/// Everything the endpoint's lock guards.
struct EndpointState {
    var machine: BroadcasterState<ByteBuffer>
    /// When the one pending expiry timer fires; nil if none is armed.
    var timerDeadline: GPollInstant?
    var shuttingDown = false

    init(machine: BroadcasterState<ByteBuffer>) { self.machine = machine }

    /// If the state machine now has a deadline earlier than the armed timer, the
    /// instant to arm a new timer at (rounded up to the grain); else nil.
    /// A replaced later timer still fires, finds nothing due, and stops.
    mutating func timerToArm() -> GPollInstant? {
        guard let next = machine.nextDeadline else { return nil }
        let grain = GPollEndpoint.timerGrain
        let rounded = GPollInstant(nanoseconds: (next.nanoseconds / grain + 1) * grain)
        if let armed = timerDeadline, armed <= rounded { return nil }
        timerDeadline = rounded
        return rounded
    }
}

/// Settings that cannot run, each problem in words a command line can print.
public struct GPollConfigurationError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public init(problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "; ") }
}
