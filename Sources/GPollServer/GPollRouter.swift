import Logging

/// The endpoints one handler serves, by exact path. Built once and shared by
/// every connection, so that a connection costs no routing table of its own.
public final class GPollRouter: Sendable {
    public let endpoints: [GPollEndpoint]
    private let byPath: [String: GPollEndpoint]
    /// For connection errors, shared by every connection (a connection holds no logger of its own).
    let logger: Logger
    /// The gpoll listener's connection figures, shared by every connection like the logger.
    let connectionMetrics: ConnectionMetrics

    /// Fails if two endpoints share a path.
    public init(_ endpoints: [GPollEndpoint], logger: Logger = Logger(label: "gpoll.http"), metrics: GPollMetrics = .system) throws {
        var byPath: [String: GPollEndpoint] = [:]
        var problems: [String] = []
        for endpoint in endpoints {
            if byPath[endpoint.path] != nil { problems.append("endpoint path '\(endpoint.path)' is given twice") }
            byPath[endpoint.path] = endpoint
        }
        guard problems.isEmpty else { throw GPollConfigurationError(problems: problems) }
        self.endpoints = endpoints
        self.byPath = byPath
        self.logger = logger
        self.connectionMetrics = ConnectionMetrics(listener: "gpoll", metrics: metrics)
    }

    public func endpoint(at path: some StringProtocol) -> GPollEndpoint? {
        byPath[String(path)]
    }

    /// The path part of a request target: everything before `?` or `#`.
    static func path(of target: String) -> Substring {
        let end = target.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? target.endIndex
        return target[..<end]
    }
}
