import Logging
import NIOCore
import NIOPosix

/// The endpoints one handler serves, by exact path. Built once and shared by
/// every connection, so that a connection costs no routing table of its own.
public final class GPollRouter: Sendable {
    public let endpoints: [GPollEndpoint]
    private let byPath: [String: GPollEndpoint]
    /// For connection errors, shared by every connection (a connection holds no logger of its own).
    let logger: Logger
    /// The gpoll listener's connection figures, shared by every connection like the logger.
    let connectionMetrics: ConnectionMetrics
    /// Carries the endpoints' answers to the connections of this router, on their loops.
    let dispatcher: PollDispatcher

    /// Fails if two endpoints share a path, or if an endpoint is already served by
    /// another router that still exists.
    ///
    /// `eventLoopGroup` is the group whose loops the connections run on (the
    /// `ServerBootstrap`'s): the router's poll dispatcher is built from its loops,
    /// and a ``GPollHTTPHandler`` of this router on any other loop stops with a
    /// precondition failure when it is added.
    ///
    /// Why an endpoint belongs to one router: a waiting poll is known to the
    /// endpoint by a token only, and a token is routed by the dispatcher whose
    /// loop registry made it; tokens of two dispatchers could be equal. So the
    /// router binds its endpoints here, and releases them when it is deinitialized
    /// (which no connection of it outlives: each holds the router). To serve an
    /// endpoint on several listeners, give them all the same router.
    public init(
        _ endpoints: [GPollEndpoint],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gpoll.http"),
        metrics: GPollMetrics = .system
    ) throws {
        var byPath: [String: GPollEndpoint] = [:]
        var problems: [String] = []
        for endpoint in endpoints {
            if byPath[endpoint.path] != nil { problems.append("endpoint path '\(endpoint.path)' is given twice") }
            byPath[endpoint.path] = endpoint
        }
        guard problems.isEmpty else { throw GPollConfigurationError(problems: problems) }
        let dispatcher = try PollDispatcher(eventLoopGroup: eventLoopGroup)
        for (index, endpoint) in endpoints.enumerated() {
            guard endpoint.bind(to: dispatcher) else {
                for earlier in endpoints[..<index] { earlier.unbind(from: dispatcher) }
                throw GPollConfigurationError(problems: [
                    "endpoint '\(endpoint.path)' is already served by another router (one router can serve several listeners)",
                ])
            }
        }
        self.endpoints = endpoints
        self.byPath = byPath
        self.logger = logger
        self.connectionMetrics = ConnectionMetrics(listener: "gpoll", metrics: metrics)
        self.dispatcher = dispatcher
    }

    deinit {
        for endpoint in endpoints { endpoint.unbind(from: dispatcher) }
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
