/// One case of the registry: the catalog id and the code that runs it. Everything
/// else about the case (title, level, requirements, needs) is read from the catalog.
public struct ConformanceCase: Sendable {
    /// When a case may run beside others.
    public enum Scheduling: Sendable {
        /// Registers its own clients and publishes nothing: any number at once.
        case parallel
        /// Publishes: a broadcast reaches every client, so nothing else runs meanwhile.
        case serial
        /// Fills the server (client limit): runs alone, after everything else.
        case exclusive
    }

    public let id: String
    /// nil: derived from the catalog (serial when it needs publishing).
    public let scheduling: Scheduling?
    public let run: @Sendable (CaseContext) async throws -> Void

    public init(_ id: String, scheduling: Scheduling? = nil, run: @escaping @Sendable (CaseContext) async throws -> Void) {
        self.id = id
        self.scheduling = scheduling
        self.run = run
    }

    public func effectiveScheduling(needs: [CatalogView.Need]) -> Scheduling {
        if let scheduling { return scheduling }
        if needs.contains(.maxClients) { return .exclusive }
        return needs.contains(.publish) ? .serial : .parallel
    }
}
