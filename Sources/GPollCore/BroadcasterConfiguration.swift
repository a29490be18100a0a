/// The deployment settings of one gpoll endpoint (Spec sections 9, 12 and 14).
public struct BroadcasterConfiguration: Hashable, Sendable {
    /// B: how many messages a client may hold (queued, or with `ack` handed out but
    /// unacknowledged); the next one offered while it has no waiting poll evicts it.
    public var clientBufferCapacity: Int
    /// How many clients share a routine id (the original's `RoutineMaxClients`).
    public var routineMaxClients: Int
    /// T: a poll waiting this long with nothing to deliver ends with 204. nil: never.
    public var pollTimeout: Duration?
    /// E: a client with no poll in flight for this long is evicted. nil: never.
    public var idleExpiry: Duration?
    /// At this many live clients a handshake is refused (503). nil: no limit.
    public var maxClients: Int?
    /// Offer the `ack` extension (Spec section 18): sequence numbers on every
    /// message answer, and polls that acknowledge with `ack=n`. Off: `ack` is ignored (PA-1).
    public var offersAcknowledgedDelivery: Bool
    /// Advertise the version, T, B, E and extensions in the handshake object (AD-1).
    public var advertisesSettings: Bool
    /// How many ended (evicted or expired) client ids are remembered, to answer
    /// their polls with `GPoll-Reason: evicted` or `expired`; older ones read `unknown`.
    public var endedClientMemory: Int
    /// The routine id of every client, when this endpoint is one node of a cluster:
    /// the prefix names the node, so a proxy routes a poll by it alone. nil: the
    /// original's placement (``routineMaxClients`` per routine, lowest unused id).
    public var nodeRoutine: UInt32?

    public init(
        clientBufferCapacity: Int = 100,
        routineMaxClients: Int = 1000,
        pollTimeout: Duration? = .seconds(30),
        idleExpiry: Duration? = nil,
        maxClients: Int? = nil,
        offersAcknowledgedDelivery: Bool = true,
        advertisesSettings: Bool = true,
        endedClientMemory: Int = 10_000,
        nodeRoutine: UInt32? = nil
    ) {
        self.clientBufferCapacity = clientBufferCapacity
        self.routineMaxClients = routineMaxClients
        self.pollTimeout = pollTimeout
        self.idleExpiry = idleExpiry
        self.maxClients = maxClients
        self.offersAcknowledgedDelivery = offersAcknowledgedDelivery
        self.advertisesSettings = advertisesSettings
        self.endedClientMemory = endedClientMemory
        self.nodeRoutine = nodeRoutine
    }

    /// The extensions a handshake lists.
    public var extensions: [String] { offersAcknowledgedDelivery ? [AdvertisedSettings.ackExtension] : [] }

    /// What the handshake object advertises; nil when settings are not advertised.
    public var advertisement: AdvertisedSettings? {
        guard advertisesSettings else { return nil }
        return AdvertisedSettings(
            version: AdvertisedSettings.currentVersion,
            pollTimeoutSeconds: (pollTimeout ?? .zero).seconds,
            clientBuffer: clientBufferCapacity,
            idleExpirySeconds: (idleExpiry ?? .zero).seconds,
            extensions: extensions)
    }

    /// Every reason the settings cannot run, in words a command line can print.
    public var problems: [String] {
        var problems: [String] = []
        if clientBufferCapacity < 1 { problems.append("the client buffer must hold at least 1 message (got \(clientBufferCapacity))") }
        if routineMaxClients < 1 { problems.append("a routine must take at least 1 client (got \(routineMaxClients))") }
        if let pollTimeout, pollTimeout <= .zero { problems.append("the poll timeout must be positive, or absent to wait for ever") }
        if let idleExpiry, idleExpiry <= .zero { problems.append("the idle expiry must be positive, or absent to never expire") }
        if let maxClients, maxClients < 1 { problems.append("the client limit must be at least 1 (got \(maxClients))") }
        if let nodeRoutine, nodeRoutine > ClientID.maximumRoutine {
            problems.append("the node's routine id must have at most nine digits (got \(nodeRoutine))")
        }
        if endedClientMemory < 0 { problems.append("the ended-client memory must not be negative (got \(endedClientMemory))") }
        return problems
    }
}

extension Duration {
    /// This duration in seconds, as a JSON number can carry it.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
