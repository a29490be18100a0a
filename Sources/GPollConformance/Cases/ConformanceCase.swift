import GPollSpec

/// One case of the registry: the catalog id and the code that runs it. Everything
/// else about the case (title, level, requirements, needs) is read from the catalog.
public struct ConformanceCase: Sendable {
    /// When a case may run beside others.
    enum Scheduling: Sendable {
        /// Registers its own clients and publishes nothing: any number at once.
        case parallel
        /// Publishes: a broadcast reaches every client of its endpoint, so nothing else
        /// runs on that endpoint (its lane) meanwhile.
        case serial
        /// Fills the server (client limit): runs alone, after everything else.
        case exclusive
    }

    public let id: String
    /// nil: derived from the catalog (serial when it needs publishing).
    let scheduling: Scheduling?
    /// How long the case is expected to take against a conforming server, for
    /// balancing lanes only (nil: a short case, longer with B).
    let estimate: (@Sendable (Settings) -> Duration)?
    /// Why the case cannot run against this server, beyond the catalog's needs
    /// (say, what the server's handshake did not advertise); nil: it can.
    let skipReason: (@Sendable (Settings) -> String?)?
    let run: @Sendable (CaseContext) async throws -> Void

    init(_ id: String, scheduling: Scheduling? = nil, estimate: (@Sendable (Settings) -> Duration)? = nil,
                skipReason: (@Sendable (Settings) -> String?)? = nil,
                run: @escaping @Sendable (CaseContext) async throws -> Void) {
        self.id = id
        self.scheduling = scheduling
        self.estimate = estimate
        self.skipReason = skipReason
        self.run = run
    }

    func effectiveScheduling(needs: [Catalog.Need]) -> Scheduling {
        if let scheduling { return scheduling }
        if needs.contains(.maxClients) { return .exclusive }
        return needs.contains(.publish) ? .serial : .parallel
    }

    /// The expected duration: the case's own estimate, or 50 ms plus 3 ms per
    /// message for cases that publish about B messages.
    func expectedDuration(needs: [Catalog.Need], settings: Settings) -> Duration {
        if let estimate { return estimate(settings) }
        return .milliseconds(50) + (needs.contains(where: \.concernsClientBuffer) ? .milliseconds(3) * settings.clientBuffer : .zero)
    }
}

extension Catalog.Need {
    /// Whether this need asks for B to be known (plain or with a minimum): such a case
    /// publishes about B messages, so it takes longer and runs after the quiet phase.
    var concernsClientBuffer: Bool {
        switch self {
        case .clientBuffer, .clientBufferAtLeast: true
        default: false
        }
    }
}
