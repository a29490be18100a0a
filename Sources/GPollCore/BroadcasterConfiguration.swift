/// The deployment settings of one gpoll endpoint (Spec sections 9, 12 and 14).
public struct BroadcasterConfiguration: Hashable, Sendable {
    /// B: how many undelivered messages a client may hold; the next one evicts it.
    public var clientBufferCapacity: Int
    /// How many clients share a routine id (the original's `RoutineMaxClients`).
    public var routineMaxClients: Int
    /// T: a poll waiting this long with nothing to deliver ends with 204. nil: never.
    public var pollTimeout: Duration?
    /// E: a client with no poll in flight for this long is evicted. nil: never.
    public var idleExpiry: Duration?
    /// At this many live clients a handshake is refused (503). nil: no limit.
    public var maxClients: Int?

    public init(
        clientBufferCapacity: Int = 100,
        routineMaxClients: Int = 1000,
        pollTimeout: Duration? = .seconds(30),
        idleExpiry: Duration? = nil,
        maxClients: Int? = nil
    ) {
        self.clientBufferCapacity = clientBufferCapacity
        self.routineMaxClients = routineMaxClients
        self.pollTimeout = pollTimeout
        self.idleExpiry = idleExpiry
        self.maxClients = maxClients
    }

    /// Every reason the settings cannot run, in words a command line can print.
    public var problems: [String] {
        var problems: [String] = []
        if clientBufferCapacity < 1 { problems.append("the client buffer must hold at least 1 message (got \(clientBufferCapacity))") }
        if routineMaxClients < 1 { problems.append("a routine must take at least 1 client (got \(routineMaxClients))") }
        if let pollTimeout, pollTimeout <= .zero { problems.append("the poll timeout must be positive, or absent to wait for ever") }
        if let idleExpiry, idleExpiry <= .zero { problems.append("the idle expiry must be positive, or absent to never expire") }
        if let maxClients, maxClients < 1 { problems.append("the client limit must be at least 1 (got \(maxClients))") }
        return problems
    }
}
