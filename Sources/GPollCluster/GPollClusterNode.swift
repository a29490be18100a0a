import GPollCore
import GPollServer
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One node of a gpoll cluster (see ``GPollCluster`` for the design): applies the
/// bus's rows to its local endpoints in order, heartbeats, prunes, and publishes
/// for its admin listener (pass it as the server's `adminPublisher`).
///
/// Run it as a swift-service-lifecycle `Service` beside its ``GPollServer``, or
/// call ``run()`` in a task and cancel that task to stop it.
public final class GPollClusterNode: Service, GPollAdminPublisher {
    public let configuration: GPollClusterConfiguration
    private let endpoints: [GPollEndpoint]
    private let logger: Logger
    private let link: DatabaseLink
    /// How every connection is made (TLS included): one for the link, one for LISTEN.
    private let connectionConfiguration: PostgresConnection.Configuration
    private let group: any EventLoopGroup
    private let reachable = Atomic<Bool>(false)
    /// Rings when some node reports that it applied rows: publishes waiting for them look again.
    private let appliedSignal = WakeSignal()
    /// Wakes the apply loop: a notification, this node's own publish, or the fallback timer.
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Where ``start()`` left each endpoint's applied cursor; nil until then.
    private let joined = Mutex<[String: Int64]?>(nil)

    /// Rows read per query while catching up.
    static let batchSize = 500

    /// Checks the settings; connects to nothing yet. Each endpoint must hand out
    /// the node's prefix (``GPollCore/BroadcasterConfiguration/nodeRoutine``).
    public init(
        configuration: GPollClusterConfiguration,
        endpoints: [GPollEndpoint],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gpoll.cluster")
    ) throws {
        var problems = configuration.problems
        if endpoints.isEmpty { problems.append("a cluster node needs at least one endpoint") }
        for endpoint in endpoints where endpoint.configuration.nodeRoutine != configuration.nodePrefix {
            problems.append("endpoint \(endpoint.path) hands out routine \(endpoint.configuration.nodeRoutine.map(String.init) ?? "by placement"), not the node prefix \(configuration.nodePrefix)")
        }
        var connectionConfiguration: PostgresConnection.Configuration?
        do {
            connectionConfiguration = try configuration.database.connectionConfiguration()
        } catch {
            problems.append(error.description)
        }
        guard problems.isEmpty, let connectionConfiguration else { throw GPollConfigurationError(problems: problems) }
        self.configuration = configuration
        self.connectionConfiguration = connectionConfiguration
        self.endpoints = endpoints
        var logger = logger
        logger[metadataKey: "gpoll.node"] = "\(configuration.nodeName)"
        self.logger = logger
        self.group = eventLoopGroup
        self.link = DatabaseLink(configuration: connectionConfiguration, eventLoopGroup: eventLoopGroup, logger: logger)
        (wakeStream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether the last exchange with the database worked: false before ``run()``
    /// connected and while the database is lost. For a health or readiness check.
    public var isDatabaseReachable: Bool { reachable.load(ordering: .relaxed) }

    /// `/readyz` on the node's admin listener follows the database.
    public var canPublish: Bool { isDatabaseReachable }

    // MARK: Running

    /// Connects, creates the tables if need be, records this node, then applies,
    /// heartbeats, listens and prunes until cancelled or gracefully shut down.
    /// Throws at once if the database cannot be reached at start.
    public func run() async throws {
        try await start()
        let applied = joined.withLock { $0 } ?? [:]
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.applyLoop(from: applied) }
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.listenLoop() }
                group.addTask { await self.fallbackLoop() }
                group.addTask { await self.pruneLoop() }
            }
        }
        // Leaving on purpose: publishes need not wait out the liveness window for us.
        _ = try? await withDatabase { connection in
            try await connection.query("DELETE FROM gpoll_nodes WHERE name = \(self.configuration.nodeName)", logger: self.logger)
        }
        wake.finish()
        await link.close()
        logger.info("cluster node left")
    }

    /// Joins the cluster without starting to apply, so that a server can wait for
    /// it before it listens; ``run()`` calls it if nobody did. Throws (and closes
    /// what it opened) if the database cannot be reached.
    public func start() async throws {
        guard joined.withLock({ $0 }) == nil else { return }
        do {
            let applied = try await join()
            joined.withLock { $0 = applied }
        } catch {
            var metadata: Logger.Metadata = ["gpoll.database": "\(configuration.database)", "error": "\(String(reflecting: error))"]
            if (error as? PSQLError)?.underlying is NIOSSLError {
                metadata["gpoll.hint"] = configuration.database.tls == .verifyFull
                    ? "TLS failed: is the server's certificate signed by sslrootcert (or a system root), and does it name the URL's host?"
                    : "TLS failed: does the server serve TLS (ssl=on)?"
            }
            logger.error("could not join the cluster", metadata: metadata)
            await link.close()
            throw error
        }
        logger.info("cluster node joined", metadata: [
            "gpoll.database": "\(configuration.database)",
            "gpoll.prefix": "\(configuration.nodePrefix)",
        ])
    }

    /// Creates the tables, starts this node's applied cursors at each endpoint's
    /// newest row (a new node's clients are owed only what comes after), and heartbeats once.
    private func join() async throws -> [String: Int64] {
        try await withDatabase { connection in
            // Several nodes starting at once must not race on CREATE TABLE.
            try await connection.query("SELECT pg_advisory_lock(7001001)", logger: self.logger)
            do {
                for statement in GPollCluster.schema {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7001001)", logger: self.logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(7001001)", logger: self.logger)
            var applied: [String: Int64] = [:]
            for endpoint in self.endpoints {
                let path = endpoint.path
                try await connection.query("INSERT INTO gpoll_endpoints (endpoint) VALUES (\(path)) ON CONFLICT DO NOTHING", logger: self.logger)
                let rows = try await connection.query(
                    """
                    INSERT INTO gpoll_applied (node, endpoint, seq)
                    SELECT \(self.configuration.nodeName), endpoint, last_seq FROM gpoll_endpoints WHERE endpoint = \(path)
                    ON CONFLICT (node, endpoint) DO UPDATE SET seq = excluded.seq
                    RETURNING seq
                    """, logger: self.logger)
                for try await row in rows { applied[path] = try row.decode(Int64.self) }
            }
            try await self.heartbeat(connection)
            return applied
        }
    }

    // MARK: Applying

    private func applyLoop(from start: [String: Int64]) async {
        var applied = start
        wake.yield()
        for await _ in wakeStream {
            for endpoint in endpoints {
                do {
                    try await catchUp(endpoint, applied: &applied[endpoint.path, default: 0])
                } catch {
                    break  // withDatabase logged it; the next wake tries again from `applied`
                }
            }
        }
    }

    /// Offers every row after `applied` to `endpoint`, in order, and records how far it got.
    private func catchUp(_ endpoint: GPollEndpoint, applied: inout Int64) async throws {
        let path = endpoint.path
        let start = applied
        while true {
            let after = applied
            let (newest, rows) = try await withDatabase { connection in
                let result = try await connection.query(
                    """
                    SELECT e.last_seq, m.seq, m.payload FROM gpoll_endpoints e
                    LEFT JOIN LATERAL (
                        SELECT seq, payload FROM gpoll_messages
                        WHERE endpoint = e.endpoint AND seq > \(after) ORDER BY seq LIMIT \(Self.batchSize)
                    ) m ON true
                    WHERE e.endpoint = \(path)
                    """, logger: self.logger)
                var newest: Int64 = 0
                var rows: [(Int64, ByteBuffer)] = []
                for try await row in result {
                    let (last, seq, payload) = try row.decode((Int64, Int64?, ByteBuffer?).self)
                    newest = last
                    if let seq, let payload { rows.append((seq, payload)) }
                }
                return (newest, rows)
            }
            let firstOwed = applied + 1
            if newest > applied && rows.first?.0 != firstOwed {
                // The rows this node's clients are owed were pruned while it was away.
                logger.error("missed messages that were pruned meanwhile: evicting this node's clients", metadata: [
                    "gpoll.endpoint": "\(path)", "gpoll.applied": "\(applied)",
                    "gpoll.oldest_row": "\(rows.first.map { "\($0.0)" } ?? "none")",
                ])
                endpoint.evictAllClients()
                applied = (rows.first?.0 ?? newest + 1) - 1
            }
            for (seq, payload) in rows where seq == applied + 1 {
                endpoint.send(payload)
                applied = seq
            }
            if rows.count < Self.batchSize { break }
        }
        guard applied != start else { return }
        let reached = applied
        _ = try await withDatabase { connection in
            try await connection.query(
                """
                WITH recorded AS (
                    UPDATE gpoll_applied SET seq = \(reached)
                    WHERE node = \(self.configuration.nodeName) AND endpoint = \(path) RETURNING 1)
                SELECT pg_notify(\(GPollCluster.channel), 'applied') FROM recorded
                """, logger: self.logger)
        }
    }

    // MARK: Publishing

    /// Inserts the message as the endpoint's next row and returns once every live
    /// node has applied it. Throws if the database cannot be reached or the wait
    /// passes ``GPollClusterConfiguration/publishTimeout`` (the admin answers 503).
    ///
    /// Answered by the publish timeout at the latest, even when the database does
    /// not answer at all: the work runs under that deadline as a whole, and each of
    /// its database calls under the query timeout.
    public func publish(_ message: ByteBuffer, to endpoint: GPollEndpoint) async throws {
        let limit = configuration.publishTimeout
        let deadline = ContinuousClock.now + limit
        do {
            try await withDeadline(limit) { try await self.publishAndWait(message, to: endpoint, until: deadline) }
        } catch is DeadlinePassed {
            throw GPollClusterError.publishNotAnswered(within: limit)
        }
    }

    private func publishAndWait(_ message: ByteBuffer, to endpoint: GPollEndpoint, until deadline: ContinuousClock.Instant) async throws {
        let path = endpoint.path
        let seq: Int64 = try await withDatabase { connection in
            let rows = try await connection.query(
                """
                WITH next AS (
                    UPDATE gpoll_endpoints SET last_seq = last_seq + 1 WHERE endpoint = \(path) RETURNING last_seq),
                inserted AS (
                    INSERT INTO gpoll_messages (endpoint, seq, payload) SELECT \(path), last_seq, \(message) FROM next RETURNING seq)
                SELECT seq, pg_notify(\(GPollCluster.channel), 'message') FROM inserted
                """, logger: self.logger)
            for try await row in rows { return try row.decode((Int64, String).self).0 }
            throw GPollClusterError.unknownEndpoint(path)
        }
        wake.yield()
        try await waitUntilApplied(seq, at: path, until: deadline)
    }

    private func waitUntilApplied(_ seq: Int64, at path: String, until deadline: ContinuousClock.Instant) async throws {
        let window = configuration.livenessWindow.seconds
        while true {
            try Task.checkCancellation()  // the publish was answered 503 meanwhile
            let lagging: Int64 = try await withDatabase { connection in
                let rows = try await connection.query(
                    """
                    SELECT count(*) FROM gpoll_nodes n
                    LEFT JOIN gpoll_applied a ON a.node = n.name AND a.endpoint = \(path)
                    WHERE n.heartbeat > now() - make_interval(secs => \(window)) AND coalesce(a.seq, 0) < \(seq)
                    """, logger: self.logger)
                for try await row in rows { return try row.decode(Int64.self) }
                return 0
            }
            if lagging == 0 { return }
            guard ContinuousClock.now < deadline else { throw GPollClusterError.publishTimedOut(seq: seq, laggingNodes: Int(lagging)) }
            // An `applied` notification, or at the latest 100 ms, whichever is first.
            await appliedSignal.wait(atMost: .milliseconds(100))
        }
    }

    // MARK: Heartbeat, LISTEN, fallback, pruning

    private func heartbeat(_ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO gpoll_nodes (name, prefix, heartbeat) VALUES (\(configuration.nodeName), \(Int64(configuration.nodePrefix)), now())
            ON CONFLICT (name) DO UPDATE SET prefix = excluded.prefix, heartbeat = now()
            """, logger: logger)
    }

    private func heartbeatLoop() async {
        while (try? await Task.sleep(for: configuration.heartbeatInterval)) != nil {
            _ = try? await withDatabase { try await self.heartbeat($0) }
        }
    }

    /// Holds a LISTEN connection of its own, re-made a second after it drops;
    /// each (re)start wakes the apply loop, for rows inserted while it was away.
    private func listenLoop() async {
        while !Task.isCancelled {
            if let connection = try? await PostgresConnection.connect(
                on: group.any(), configuration: connectionConfiguration, id: 2, logger: logger
            ) {
                let reason = await withTaskGroup(of: String.self) { group in
                    group.addTask {
                        do {
                            try await connection.listen(on: GPollCluster.channel) { notifications in
                                self.wake.yield()
                                for try await notification in notifications {
                                    if notification.payload == "applied" { self.appliedSignal.signal() } else { self.wake.yield() }
                                }
                            }
                            return "the notifications ended"
                        } catch {
                            return String(reflecting: error)
                        }
                    }
                    group.addTask { await self.watch(connection) }
                    // Whichever ends first (the connection broke, it stopped answering, or
                    // this node is leaving): closing the connection ends the other.
                    let first = await group.next() ?? ""
                    group.cancelAll()
                    try? await connection.close()
                    return first
                }
                if !Task.isCancelled { logger.warning("LISTEN connection lost; the fallback poll carries on", metadata: ["error": "\(reason)"]) }
            }
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
        }
    }

    /// A LISTEN connection only receives, so a database that froze (or a link that
    /// died without a reset) would leave it waiting silently, and the LISTEN
    /// statement itself could hang. Every heartbeat interval this asks `SELECT 1`
    /// on it under the query timeout; returns why when that fails, or when cancelled.
    private func watch(_ connection: PostgresConnection) async -> String {
        while (try? await Task.sleep(for: configuration.heartbeatInterval)) != nil {
            do {
                try await withDeadline(configuration.queryTimeout) {
                    _ = try await connection.query("SELECT 1", logger: self.logger)
                }
            } catch is DeadlinePassed {
                return "\(GPollClusterError.databaseDidNotAnswer(within: configuration.queryTimeout))"
            } catch {
                return String(reflecting: error)
            }
        }
        return "cancelled"
    }

    private func fallbackLoop() async {
        while (try? await Task.sleep(for: configuration.fallbackPollInterval)) != nil {
            wake.yield()
        }
    }

    private func pruneLoop() async {
        let every = max(configuration.retention / 4, .seconds(1))
        let retention = configuration.retention.seconds
        let window = configuration.livenessWindow.seconds
        while (try? await Task.sleep(for: every)) != nil {
            for endpoint in endpoints {
                let path = endpoint.path
                _ = try? await withDatabase { connection in
                    try await connection.query(
                        """
                        DELETE FROM gpoll_messages WHERE endpoint = \(path)
                        AND published_at < now() - make_interval(secs => \(retention))
                        AND seq <= (SELECT coalesce(min(a.seq), 0) FROM gpoll_applied a JOIN gpoll_nodes n ON n.name = a.node
                                    WHERE a.endpoint = \(path) AND n.heartbeat > now() - make_interval(secs => \(window)))
                        """, logger: self.logger)
                }
            }
        }
    }

    // MARK: The database

    /// Runs `body` on the shared connection, within the query timeout; notes
    /// whether the database answered, and logs each change between reachable and
    /// lost once. Every database call of the node except LISTEN goes through here.
    ///
    /// A body that has not returned by ``GPollClusterConfiguration/queryTimeout``
    /// (a frozen database answers nothing, and its connections stay open) is given
    /// up: the connection is closed, which fails the stuck query and every one
    /// queued behind it, and the next call connects anew.
    private func withDatabase<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection: PostgresConnection
        do {
            connection = try await link.connection()
        } catch {
            noteReachable(false, error: error)
            throw error
        }
        do {
            let result = try await withDeadline(configuration.queryTimeout) { try await body(connection) }
            noteReachable(true, error: nil)
            return result
        } catch let error as PSQLError where error.code == .server {
            noteReachable(true, error: nil)  // the database answered; the statement failed
            throw error
        } catch is CancellationError {
            throw CancellationError()  // the caller is going: says nothing about the database
        } catch is DeadlinePassed {
            // Noted before the close, which fails the calls queued on this connection:
            // the log names the timeout, not the closed connection that follows from it.
            let error = GPollClusterError.databaseDidNotAnswer(within: configuration.queryTimeout)
            noteReachable(false, error: error)
            await link.discard(connection)
            throw error
        } catch {
            await link.discard(connection)
            noteReachable(false, error: error)
            throw error
        }
    }

    private func noteReachable(_ now: Bool, error: (any Error)?) {
        let was = reachable.exchange(now, ordering: .relaxed)
        guard was != now else { return }
        if now {
            logger.notice("database reachable: catching up in order", metadata: ["gpoll.database": "\(configuration.database)"])
            wake.yield()
        } else {
            // A timeout reads "database did not answer within 5.0 s" (GPollClusterError's description).
            logger.error("database unreachable: no messages in or out until it returns", metadata: [
                "gpoll.database": "\(configuration.database)", "error": "\(error.map { String(reflecting: $0) } ?? "?")",
            ])
        }
    }
}

public enum GPollClusterError: Error, CustomStringConvertible, Sendable {
    case unknownEndpoint(String)
    case publishTimedOut(seq: Int64, laggingNodes: Int)
    /// The publish was not through (written and applied) within the publish timeout,
    /// the database slow or frozen meanwhile. The message may still be written later.
    case publishNotAnswered(within: Duration)
    /// A database call passed the query timeout; its connection was closed.
    case databaseDidNotAnswer(within: Duration)

    public var description: String {
        switch self {
        case .unknownEndpoint(let path): return "the bus has no endpoint \(path)"
        case .publishTimedOut(let seq, let lagging): return "message \(seq) not applied by \(lagging) live node(s) in time"
        case .publishNotAnswered(let limit): return "the publish was not through (written and applied by every live node) within \(limit.seconds) s"
        case .databaseDidNotAnswer(let limit): return "database did not answer within \(limit.seconds) s"
        }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
