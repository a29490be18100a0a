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
/// The hand-off goes through the poll dispatcher of the one ``GPollRouter`` that
/// serves the endpoint (``GPollServer`` makes its own); an endpoint can be in one
/// router at a time, see ``GPollRouter/init(_:eventLoopGroup:logger:metrics:)``.
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
        modifyState { state, now, actions in
            let result = state.machine.publish(message, now: now)
            actions.answer(result.deliveries.map(PollCompletion.message))
            actions.report(.published(delivered: result.deliveries.count, evicted: result.evicted.count,
                                      bytes: message.readableBytes, startedAt: now))
            return SendSummary(delivered: result.deliveries.count, queued: result.queued, evicted: result.evicted.count)
        }
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
        modifyState { state, now, actions in
            let result = state.machine.register(now: now)
            actions.report(.registered(result))
            return result
        }
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
        modifyState { state, now, actions in
            let result = state.machine.poll(id, acknowledging: ack, token: token, now: now)
            actions.report(.polled(result.outcome))
            switch result {
            case .deliver(let message, let sequence): return .deliver(message, sequence: sequence)
            case .notFound(let ended): return .notFound(ended?.wireReason ?? .unknown)
            case .acknowledgementTooHigh: return .badAcknowledgement
            case .endNow: return .endNow
            case .wait(let superseded):
                if let superseded { actions.answer([.noContent(superseded)]) }
                return .wait
            }
        }
    }

    // MARK: The router that serves this endpoint

    /// Binds this endpoint to the dispatcher of the router that serves it; false if
    /// another router's dispatcher has it. Polls wait only through a router's
    /// handlers, so until a router binds it an endpoint has no poll to answer.
    func bind(to dispatcher: PollDispatcher) -> Bool {
        state.withLock { state in
            if let bound = state.dispatcher { return bound === dispatcher }
            state.dispatcher = dispatcher
            return true
        }
    }

    /// The router is gone: no connection of its can have a waiting poll any more.
    func unbind(from dispatcher: PollDispatcher) {
        state.withLock { state in
            if state.dispatcher === dispatcher { state.dispatcher = nil }
        }
    }

    /// The connection of a waiting poll closed: the poll must not take a message.
    func withdraw(_ token: PollToken) {
        modifyState { state, now, _ in
            _ = state.machine.withdraw(token, now: now)
        }
    }

    /// A message could not be written to its poll: back to the front of the queue,
    /// or on to a poll of that client that waits by now.
    func returnUndelivered(_ message: ByteBuffer, sequence: UInt64, to client: ClientID) {
        modifyState { state, now, actions in
            switch state.machine.returnUndelivered(message, sequence: sequence, to: client, now: now) {
            case .deliver(let delivery):
                actions.answer([.message(delivery)])
                actions.report(.redelivered(bytes: delivery.message.readableBytes))
            case .requeued: actions.report(.requeued(client))
            case .clientGone: break
            }
        }
    }

    /// For a graceful shutdown: answers every waiting poll 204, and every later
    /// poll that would wait 204 at once. Messages already queued are still delivered.
    public func beginShutdown() {
        modifyState { state, now, actions in
            // The clients end with the service; counted once, however often this is called.
            let clients = state.machine.isShuttingDown ? 0 : state.machine.clientCount
            let released = state.machine.beginShutdown(now: now)
            actions.answer(released.map(PollCompletion.noContent))
            actions.report(.releasedForShutdown(polls: released.count, clients: clients))
        }
    }

    /// Evicts every client (a cluster node that lost messages it owed them):
    /// waiting polls end 204, and every later poll of these ids gets 404.
    public func evictAllClients() {
        modifyState { state, now, actions in
            let (released, evicted) = state.machine.evictAll(now: now)
            actions.answer(released.map(PollCompletion.noContent))
            actions.report(.evictedAll(evicted.count))
        }
    }

    // MARK: The funnel

    /// Every change of this endpoint's state goes through here: the clock is read
    /// once, `change` runs under the lock on the state machine and records what is
    /// to be done in `actions`; the timer, the answers to waiting polls and the
    /// events (logs; the place for metrics too) are carried out after the lock is
    /// released, in ``perform(_:)``.
    private func modifyState<Result>(
        _ change: (inout EndpointState, GPollInstant, inout EndpointActions) -> Result
    ) -> Result {
        let now = Self.now()
        var actions = EndpointActions()
        let result = state.withLock { state in
            let result = change(&state, now, &actions)
            actions.timer = state.timerToArm()
            if !actions.completions.isEmpty { actions.dispatcher = state.dispatcher }
            return result
        }
        perform(actions)
        return result
    }

    /// Carries out what one state change asked for, outside the lock.
    private func perform(_ actions: EndpointActions) {
        if let deadline = actions.timer { scheduleTimer(at: deadline) }
        if !actions.completions.isEmpty {
            // A waiting poll exists only on a connection of the router that bound this
            // endpoint, and the router (held by every such connection) lives longer.
            assert(actions.dispatcher != nil, "answers for waiting polls, but no router serves \(path)")
            actions.dispatcher?.dispatch(actions.completions, from: self)
        }
        if let event = actions.event { record(event) }
    }

    /// The one place an endpoint's events become metrics and log lines. Evictions
    /// are counted, and logged at debug only: under load they come by the thousand.
    private func record(_ event: EndpointEvent) {
        switch event {
        case .published(let delivered, let evicted, let bytes, let startedAt):
            metrics.published(delivered: delivered, evicted: evicted, bytes: bytes, since: startedAt.nanoseconds)
            if evicted > 0 { logger.debug("evicted clients whose buffer was full", metadata: ["gpoll.evicted": "\(evicted)"]) }
        case .registered(let result):
            metrics.handshake(result)
            if case .refused(let reason) = result { logger.debug("handshake refused", metadata: ["gpoll.reason": "\(reason)"]) }
        case .polled(let outcome):
            metrics.polled(outcome)
        case .redelivered(let bytes):
            metrics.delivered(1, bytes: bytes)
        case .requeued(let client):
            logger.debug("undelivered message returned to its queue", metadata: ["gpoll.client": "\(client)"])
        case .releasedForShutdown(let polls, let clients):
            metrics.shutDown(releasedPolls: polls, clients: clients)
            if polls > 0 { logger.info("released waiting polls for shutdown", metadata: ["gpoll.polls": "\(polls)"]) }
        case .evictedAll(let count):
            if count > 0 { logger.warning("evicted every client", metadata: ["gpoll.evicted": "\(count)"]) }
        case .expired(let timedOutPolls, let idleClients):
            metrics.expired(timedOutPolls: timedOutPolls, idleClients: idleClients)
            if timedOutPolls > 0 { logger.debug("polls timed out", metadata: ["gpoll.polls": "\(timedOutPolls)"]) }
            if idleClients > 0 { logger.debug("evicted idle clients", metadata: ["gpoll.evicted": "\(idleClients)"]) }
        }
    }

    // MARK: Timer

    private func scheduleTimer(at deadline: GPollInstant) {
        timerLoop.scheduleTask(deadline: .uptimeNanoseconds(deadline.nanoseconds)) { [self] in
            self.timerFired()
        }
    }

    private func timerFired() {
        modifyState { state, now, actions in
            if let armed = state.timerDeadline, armed <= now { state.timerDeadline = nil }
            let result = state.machine.expire(now: now)
            actions.answer(result.timedOutPolls.map(PollCompletion.noContent))
            actions.report(.expired(timedOutPolls: result.timedOutPolls.count, idleClients: result.expiredClients.count))
        }
    }

    static func now() -> GPollInstant {
        GPollInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds)
    }
}

/// What one state change of an endpoint leaves to be done once its lock is released.
struct EndpointActions {
    /// Answers for waiting polls, sent to their event loops.
    var completions: [PollCompletion] = []
    /// Where `completions` go: the endpoint's dispatcher, read under the lock with them.
    var dispatcher: PollDispatcher?
    /// A new expiry timer to arm, if the state machine's next deadline moved earlier.
    var timer: GPollInstant?
    /// What happened, for logs and metrics: one event per change (no array, so a
    /// poll's way through the funnel allocates nothing for it).
    var event: EndpointEvent?

    mutating func answer(_ more: [PollCompletion]) {
        if completions.isEmpty { completions = more } else { completions.append(contentsOf: more) }
    }

    mutating func report(_ event: EndpointEvent) { self.event = event }
}

/// Something an endpoint's state change did, as logs and metrics see it.
enum EndpointEvent {
    case published(delivered: Int, evicted: Int, bytes: Int, startedAt: GPollInstant)
    case registered(RegistrationResult)
    case polled(PollEventOutcome)
    /// A message whose write failed went straight on to a poll of its client that waits by now.
    case redelivered(bytes: Int)
    case requeued(ClientID)
    /// Shutdown began: `polls` waiting polls answered 204, `clients` clients end with the service.
    case releasedForShutdown(polls: Int, clients: Int)
    case evictedAll(Int)
    case expired(timedOutPolls: Int, idleClients: Int)
}

/// How a poll ended at the state machine, without its message.
enum PollEventOutcome {
    case delivered(bytes: Int)
    /// It waits; `supersededOlder`: an older poll of the client was answered 204.
    case waiting(supersededOlder: Bool)
    case notFound(GPollReason)
    case badAcknowledgement
    case endedForShutdown
}

extension PollResult where Message == ByteBuffer {
    var outcome: PollEventOutcome {
        switch self {
        case .deliver(let message, _): .delivered(bytes: message.readableBytes)
        case .wait(let superseded): .waiting(supersededOlder: superseded != nil)
        case .notFound(let ended): .notFound(ended?.wireReason ?? .unknown)
        case .acknowledgementTooHigh: .badAcknowledgement
        case .endNow: .endedForShutdown
        }
    }
}

/// Everything the endpoint's lock guards.
struct EndpointState {
    var machine: BroadcasterState<ByteBuffer>
    /// When the one pending expiry timer fires; nil if none is armed.
    var timerDeadline: GPollInstant?
    /// The dispatcher of the router that serves this endpoint; nil while none does.
    /// Kept under the lock that every state change takes anyway, so the dispatch
    /// path takes no lock of its own.
    var dispatcher: PollDispatcher?

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
