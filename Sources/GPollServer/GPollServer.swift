import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The reference gpoll server: a gpoll listener (HTTP or HTTPS) serving the
/// endpoints, and an optional admin listener for publishing and statistics.
///
/// Use ``start()`` and ``shutdown()`` directly, or run it as a
/// swift-service-lifecycle `Service`: ``run()`` starts it and, on graceful
/// shutdown, stops accepting, answers waiting polls 204, lets responses in
/// flight finish, and closes whatever is left after the grace period.
public final class GPollServer: Service, Sendable {
    public let configuration: GPollServerConfiguration
    public let router: GPollRouter
    private let group: any EventLoopGroup
    private let logger: Logger
    private let tlsContext: NIOSSLContext?
    /// The demo's page, script and publish limits; nil without the demo.
    private let demoSite: DemoSite?
    private let lifecycle = Mutex(Lifecycle.idle)
    private let connections = ConnectionTracker()
    private let adminConnectionMetrics: ConnectionMetrics
    private let processMetrics: ProcessMetrics
    /// Where admin publishes go; nil: straight to the local endpoint.
    private let adminPublisher: (any GPollAdminPublisher)?

    private enum Lifecycle {
        case idle
        case starting
        case running(Listeners)
        case stopping
        case stopped
    }

    private struct Listeners {
        var gpoll: any Channel
        var gpollQuiescing: ServerQuiescingHelper
        var admin: (any Channel)?
        var adminQuiescing: ServerQuiescingHelper?
    }

    /// Checks the settings and reads the TLS files; binds no socket yet. Each
    /// endpoint is served by this server alone (see ``GPollRouter``): an endpoint
    /// that another live server or router serves is refused.
    public init(
        configuration: GPollServerConfiguration,
        endpoints: [GPollEndpoint],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gpoll.server"),
        adminPublisher: (any GPollAdminPublisher)? = nil
    ) throws {
        var problems = configuration.problems
        if endpoints.isEmpty { problems.append("at least one endpoint is needed") }
        guard problems.isEmpty else { throw GPollConfigurationError(problems: problems) }
        self.tlsContext = try configuration.makeTLSContext()
        // The router's poll dispatcher is this server's own, built from this group's
        // loops, the ones its connections run on. It binds the endpoints (an endpoint
        // in another server's router is refused here) and lets them go when the server
        // and its connections are gone. Made last of what can throw, so that a
        // failed init holds no endpoint.
        self.router = try GPollRouter(endpoints, eventLoopGroup: eventLoopGroup, logger: logger, metrics: configuration.metrics)
        self.adminConnectionMetrics = ConnectionMetrics(listener: "admin", metrics: configuration.metrics)
        self.processMetrics = ProcessMetrics(metrics: configuration.metrics)
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        self.demoSite = configuration.demo.map { DemoSite(endpoint: endpoints[0], settings: $0) }
        self.adminPublisher = adminPublisher
    }

    /// The bound port of the gpoll listener (useful with port 0); nil unless running.
    public var port: Int? {
        lifecycle.withLock { if case .running(let listeners) = $0 { listeners.gpoll.localAddress?.port } else { nil } }
    }

    /// The bound port of the admin listener; nil unless running with one.
    public var adminPort: Int? {
        lifecycle.withLock { if case .running(let listeners) = $0 { listeners.admin?.localAddress?.port } else { nil } }
    }

    /// Whether the gpoll listener accepts: from the end of ``start()`` until a
    /// shutdown begins. `GET /readyz` on the admin listener answers by it.
    public var isReady: Bool {
        lifecycle.withLock { if case .running = $0 { true } else { false } }
    }

    /// Brings the sampled metrics up to date (clients, waiting polls, readiness,
    /// descriptors) and returns the registry's exposition, nil without a registry.
    /// `GET /metrics` calls it; with another swift-metrics backend call
    /// ``sampleMetrics()`` as often as that backend reports.
    func metricsExposition() -> [UInt8]? {
        guard let registry = configuration.metrics.registry else { return nil }
        sampleMetrics()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        registry.emit(into: &buffer)
        return buffer
    }

    /// Sets the gauges that are read rather than kept on every change.
    public func sampleMetrics() {
        for endpoint in router.endpoints {
            endpoint.metrics.sample(clients: endpoint.clientCount, waitingPolls: endpoint.waitingPollCount)
        }
        processMetrics.sample(ready: isReady)
    }

    /// Binds both listeners. Throws if either cannot be bound (nothing stays bound then).
    public func start() async throws {
        let proceed = lifecycle.withLock { state -> Bool in
            guard case .idle = state else { return false }
            state = .starting
            return true
        }
        guard proceed else { return }
        do {
            let gpollQuiescing = ServerQuiescingHelper(group: group)
            let gpoll = try await bindGPoll(quiescing: gpollQuiescing)
            var admin: (any Channel)?
            var adminQuiescing: ServerQuiescingHelper?
            if let settings = configuration.admin {
                let quiescing = ServerQuiescingHelper(group: group)
                do {
                    admin = try await bindAdmin(settings, quiescing: quiescing)
                    adminQuiescing = quiescing
                } catch {
                    try? await gpoll.close()
                    throw error
                }
            }
            let listeners = Listeners(gpoll: gpoll, gpollQuiescing: gpollQuiescing, admin: admin, adminQuiescing: adminQuiescing)
            lifecycle.withLock { $0 = .running(listeners) }
            logger.info("gpoll listener started", metadata: [
                "gpoll.address": "\(gpoll.localAddress.map { "\($0)" } ?? "?")",
                "gpoll.tls": "\(tlsContext != nil)",
                "gpoll.endpoints": "\(router.endpoints.map(\.path).joined(separator: ","))",
            ])
            if demoSite != nil, let port = gpoll.localAddress?.port {
                let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
                logger.info("demo chat started: open \(tlsContext == nil ? "http" : "https")://\(host):\(port)/ in a browser")
            }
            if let admin {
                logger.info("admin listener started (publish, stats, metrics, health)", metadata: ["gpoll.address": "\(admin.localAddress.map { "\($0)" } ?? "?")"])
            }
        } catch {
            lifecycle.withLock { $0 = .idle }
            logger.error("could not start", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private func bindGPoll(quiescing: ServerQuiescingHelper) async throws -> any Channel {
        let router = self.router
        let tlsContext = self.tlsContext
        let connections = self.connections
        let connectionMetrics = router.connectionMetrics
        let cors = configuration.cors
        let demoSite = self.demoSite
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A gpoll request is a few hundred bytes and then the connection idles in a
            // long poll, so start each connection's receive buffer small; it grows if needed.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tlsContext { try pipeline.addHandler(NIOSSLServerHandler(context: tlsContext)) }
                    // GPollHTTPHandler orders pipelined requests itself: NIO's assistance
                    // would stop reading while every poll waits (two epoll_ctl per message).
                    if cors == nil && demoSite == nil {
                        // gpoll's own response encoder (see GPollResponseEncoder) lets a
                        // broadcast write the same encoded 200 to every poll, and has no
                        // outbound header validation: every header gpoll writes is the
                        // server's own constant or number (NIO's validator was 8 % of the
                        // server's CPU under a 10,000-poller broadcast, BENCHMARKS.md).
                        try pipeline.addHandler(GPollResponseEncoder())
                        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                        try pipeline.addHandler(GPollProtocolErrorHandler())
                        try pipeline.addHandler(GPollHTTPHandler(router: router, unknownPaths: .notFound, responseWriting: .preEncodedMessages))
                    } else {
                        // CORS adds headers per request and the demo answers its own paths,
                        // so both need every answer as HTTP parts (no shared pre-encoded
                        // bytes), and the demo's answers must stay in order with gpoll's:
                        // there NIO's encoder and its pipelining assistance are used.
                        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: demoSite != nil, withErrorHandling: false)
                        try pipeline.addHandler(GPollProtocolErrorHandler())
                        if let cors { try pipeline.addHandler(GPollCORSHandler(policy: cors)) }
                        try pipeline.addHandler(GPollHTTPHandler(router: router, unknownPaths: demoSite == nil ? .notFound : .forward))
                        if let demoSite { try pipeline.addHandler(GPollDemoHandler(site: demoSite)) }
                    }
                    connections.track(channel, metrics: connectionMetrics)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }

    private func bindAdmin(_ settings: GPollServerConfiguration.AdminListener, quiescing: ServerQuiescingHelper) async throws -> any Channel {
        let router = self.router
        let connections = self.connections
        let connectionMetrics = adminConnectionMetrics
        let adminPublisher = self.adminPublisher
        let operations = AdminOperations(
            token: settings.token,
            // Not ready while the cluster's database is out of reach: new clients would miss messages.
            isReady: { [weak self] in (self?.isReady ?? false) && (adminPublisher?.canPublish ?? true) },
            metricsText: { [weak self] in self?.metricsExposition() },
            connectionMetrics: connectionMetrics,
            publisher: adminPublisher
        )
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    try pipeline.addHandler(GPollProtocolErrorHandler())
                    try pipeline.addHandler(GPollAdminHandler(router: router, maximumMessageBytes: settings.maximumMessageBytes, operations: operations))
                    connections.track(channel, metrics: connectionMetrics)
                }
            }
            .bind(host: settings.host, port: settings.port)
            .get()
    }

    /// Runs until graceful shutdown (SIGTERM/SIGINT in a `ServiceGroup`), then shuts down.
    public func run() async throws {
        try await start()
        // Returns when graceful shutdown begins; throws on cancellation, which also means stop.
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Graceful shutdown: stop accepting, answer waiting polls 204, let responses
    /// in flight finish; after the grace period close whatever is still open.
    /// Returns once every connection is closed. Safe to call more than once.
    public func shutdown() async {
        let listeners = lifecycle.withLock { state -> Listeners? in
            guard case .running(let listeners) = state else { return nil }
            state = .stopping
            return listeners
        }
        guard let listeners else { return }
        logger.info("graceful shutdown started")
        let loop = group.next()
        let gpollDone = loop.makePromise(of: Void.self)
        listeners.gpollQuiescing.initiateShutdown(promise: gpollDone)
        // Quiescing closes idle connections and those whose response ends; a
        // waiting poll's response is the 204 that beginShutdown sends now.
        for endpoint in router.endpoints { endpoint.beginShutdown() }

        let connections = self.connections
        let logger = self.logger
        let deadline = loop.scheduleTask(in: .nanoseconds(Int64(configuration.shutdownGracePeriod.wholeNanoseconds))) {
            let open = connections.closeAll()
            logger.warning("grace period over, closed remaining connections", metadata: ["gpoll.connections": "\(open)"])
        }
        // The admin listener stays open while the gpoll listener drains, so that a
        // load balancer reads /readyz as 503 (and a scrape the last counts) meanwhile.
        try? await gpollDone.futureResult.get()
        if let adminQuiescing = listeners.adminQuiescing {
            let adminDone = loop.makePromise(of: Void.self)
            adminQuiescing.initiateShutdown(promise: adminDone)
            try? await adminDone.futureResult.get()
        }
        deadline.cancel()
        lifecycle.withLock { $0 = .stopped }
        logger.info("stopped")
    }
}

/// Every open connection of the server, so that shutdown can close stragglers.
/// One dictionary entry per connection; removed when the connection closes.
final class ConnectionTracker: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func track(_ channel: any Channel, metrics: ConnectionMetrics) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        metrics.opened()
        channel.closeFuture.whenComplete { [self] _ in
            _ = self.channels.withLock { $0.removeValue(forKey: id) }
            metrics.closed()
        }
    }

    /// Closes every tracked connection; returns how many there were.
    @discardableResult
    func closeAll() -> Int {
        let open = channels.withLock { Array($0.values) }
        for channel in open { channel.close(promise: nil) }
        return open.count
    }
}
