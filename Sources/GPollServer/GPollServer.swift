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
    private let lifecycle = Mutex(Lifecycle.idle)
    private let connections = ConnectionTracker()

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

    /// Checks the settings and reads the TLS files; binds nothing yet.
    public init(
        configuration: GPollServerConfiguration,
        endpoints: [GPollEndpoint],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gpoll.server")
    ) throws {
        var problems = configuration.problems
        if endpoints.isEmpty { problems.append("at least one endpoint is needed") }
        guard problems.isEmpty else { throw GPollConfigurationError(problems: problems) }
        self.router = try GPollRouter(endpoints, logger: logger)
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        self.tlsContext = try configuration.makeTLSContext()
    }

    /// The bound port of the gpoll listener (useful with port 0); nil unless running.
    public var port: Int? {
        lifecycle.withLock { if case .running(let listeners) = $0 { listeners.gpoll.localAddress?.port } else { nil } }
    }

    /// The bound port of the admin listener; nil unless running with one.
    public var adminPort: Int? {
        lifecycle.withLock { if case .running(let listeners) = $0 { listeners.admin?.localAddress?.port } else { nil } }
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
            if let admin {
                logger.info("admin listener started (publish, stats)", metadata: ["gpoll.address": "\(admin.localAddress.map { "\($0)" } ?? "?")"])
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
                    // gpoll's own response encoder (see GPollResponseEncoder) lets a
                    // broadcast write the same encoded 200 to every poll, and has no
                    // outbound header validation: every header gpoll writes is the
                    // server's own constant or number (NIO's validator was 8 % of the
                    // server's CPU under a 10,000-poller broadcast, BENCHMARKS.md).
                    try pipeline.addHandler(GPollResponseEncoder())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try pipeline.addHandler(GPollProtocolErrorHandler())
                    try pipeline.addHandler(GPollHTTPHandler(router: router, unknownPaths: .notFound, responseWriting: .preEncodedMessages))
                    connections.track(channel)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }

    private func bindAdmin(_ settings: GPollServerConfiguration.AdminListener, quiescing: ServerQuiescingHelper) async throws -> any Channel {
        let router = self.router
        let connections = self.connections
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
                    try pipeline.addHandler(GPollAdminHandler(router: router, maximumMessageBytes: settings.maximumMessageBytes))
                    connections.track(channel)
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
        var drained: [EventLoopFuture<Void>] = []
        let gpollDone = loop.makePromise(of: Void.self)
        listeners.gpollQuiescing.initiateShutdown(promise: gpollDone)
        drained.append(gpollDone.futureResult)
        if let adminQuiescing = listeners.adminQuiescing {
            let adminDone = loop.makePromise(of: Void.self)
            adminQuiescing.initiateShutdown(promise: adminDone)
            drained.append(adminDone.futureResult)
        }
        // Quiescing closes idle connections and those whose response ends; a
        // waiting poll's response is the 204 that beginShutdown sends now.
        for endpoint in router.endpoints { endpoint.beginShutdown() }

        let connections = self.connections
        let logger = self.logger
        let deadline = loop.scheduleTask(in: .nanoseconds(Int64(configuration.shutdownGracePeriod.wholeNanoseconds))) {
            let open = connections.closeAll()
            logger.warning("grace period over, closed remaining connections", metadata: ["gpoll.connections": "\(open)"])
        }
        try? await EventLoopFuture.andAllComplete(drained, on: loop).get()
        deadline.cancel()
        lifecycle.withLock { $0 = .stopped }
        logger.info("stopped")
    }
}

/// Every open connection of the server, so that shutdown can close stragglers.
/// One dictionary entry per connection; removed when the connection closes.
final class ConnectionTracker: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = self.channels.withLock { $0.removeValue(forKey: id) }
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
