import ArgumentParser
import GPollCluster
import GPollCore
import GPollServer
import Logging
import ServiceLifecycle

@main
struct GPollServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpoll-server",
        abstract: "The gpoll/1.1 reference server: HTTP long-poll broadcast on SwiftNIO.",
        discussion: """
            Clients handshake and poll at each endpoint path on the gpoll listener \
            (--host/--port), for example GET /poll?client-id=0.

            PUBLISHING happens only on a separate admin listener (--admin-host/--admin-port, \
            loopback by default), so publishing is never open to the world unless you bind \
            the admin listener to a public address yourself:
              POST /publish            the raw body is one message for the first --endpoint
              POST /publish/<path>     for the endpoint at /<path> (e.g. /publish/chat/room
                                       for --endpoint /chat/room)
              GET  /stats              clients, waiting polls and counters (JSON)
            A publish is answered 204 once every client registered before it was offered the \
            message. The gpoll listener never publishes.

            gpoll/1.1: the handshake object advertises the settings in force, \
            {"client-id":"...","gpoll":"1.1","poll-timeout":T,"client-buffer":B,"idle-expiry":E,"extensions":["ack"]} \
            (--no-advertise: client-id alone). With the ack extension (--no-ack turns it off) \
            every message answer carries GPoll-Sequence: n, and a poll with ack=n acknowledges \
            messages up to n and gets the next one, re-sent if its answer was lost. 404 and 400 \
            answers carry GPoll-Reason: unknown, evicted, expired or malformed.

            SIGTERM or SIGINT shut down gracefully: stop accepting, answer waiting polls 204, \
            finish responses in flight, exit 0 within 5 seconds.
            """
    )

    @Option(help: ArgumentHelp("Address of the gpoll listener.", valueName: "address"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Port of the gpoll listener (0 picks a free port).", valueName: "port"))
    var port = 8080

    @Option(name: .customLong("endpoint"), help: ArgumentHelp("An endpoint path, each with its own clients; repeat for more. (default: /poll)", valueName: "path"))
    var endpoints: [String] = []

    @Option(help: ArgumentHelp("B: messages a client may hold undelivered; one more evicts it.", valueName: "n"))
    var clientBuffer = 100

    @Option(help: ArgumentHelp("Clients per routine id (the number before '$' in an id).", valueName: "n"))
    var routineMaxClients = 1000

    @Option(help: ArgumentHelp("T: a poll with nothing to deliver ends with 204 after this many seconds; 0 holds it for ever.", valueName: "seconds"))
    var pollTimeout: Double = 30

    @Option(help: ArgumentHelp("E: evict a client with no poll in flight for this many seconds. (default: never)", valueName: "seconds"))
    var idleExpiry: Double?

    @Option(help: ArgumentHelp("Refuse handshakes with 503 and Retry-After at this many clients per endpoint. (default: no limit)", valueName: "n"))
    var maxClients: Int?

    @Option(help: ArgumentHelp("PEM certificate chain: serve the gpoll listener over TLS (needs --tls-key).", valueName: "pem"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key for --tls-cert.", valueName: "pem"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Address of the admin (publish and stats) listener. Keep it private: anyone who reaches it can publish.", valueName: "address"))
    var adminHost = "127.0.0.1"

    @Option(help: ArgumentHelp("Port of the admin listener (0 picks a free port).", valueName: "port"))
    var adminPort = 8081

    @Flag(help: "Run without the admin listener (nothing can publish over HTTP).")
    var noAdmin = false

    @Option(help: ArgumentHelp("Publish bodies larger than this get 413.", valueName: "bytes"))
    var maxMessageBytes = 1 << 20

    @Flag(help: "Do not offer acknowledged delivery (the 'ack' extension): no GPoll-Sequence header, 'ack=n' ignored.")
    var noAck = false

    @Flag(help: "Answer handshakes with the gpoll/1 object {\"client-id\":\"...\"} alone, advertising no version, T, B, E or extensions.")
    var noAdvertise = false

    @OptionGroup(title: "Cluster")
    var cluster: ClusterOptions

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    /// The endpoint paths to serve.
    var endpointPaths: [String] { endpoints.isEmpty ? ["/poll"] : endpoints }

    var broadcasterConfiguration: BroadcasterConfiguration {
        BroadcasterConfiguration(
            clientBufferCapacity: clientBuffer,
            routineMaxClients: routineMaxClients,
            pollTimeout: pollTimeout == 0 ? nil : Self.duration(seconds: pollTimeout),
            idleExpiry: idleExpiry.map { Self.duration(seconds: $0) },
            maxClients: maxClients,
            offersAcknowledgedDelivery: !noAck,
            advertisesSettings: !noAdvertise,
            nodeRoutine: cluster.url == nil ? nil : cluster.nodePrefix
        )
    }

    var serverConfiguration: GPollServerConfiguration {
        GPollServerConfiguration(
            host: host,
            port: port,
            tls: tlsCert.flatMap { cert in tlsKey.map { .init(certificateChainPath: cert, privateKeyPath: $0) } },
            admin: noAdmin ? nil : .init(host: adminHost, port: adminPort, maximumMessageBytes: maxMessageBytes)
        )
    }

    static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    mutating func validate() throws {
        var problems: [String] = []
        if Logger.Level(rawValue: logLevel) == nil {
            problems.append("--log-level must be one of trace, debug, info, notice, warning, error, critical (got '\(logLevel)')")
        }
        if !pollTimeout.isFinite || pollTimeout < 0 { problems.append("--poll-timeout must be 0 (for ever) or a positive number of seconds") }
        if let idleExpiry, !idleExpiry.isFinite || idleExpiry <= 0 { problems.append("--idle-expiry must be a positive number of seconds") }
        if (tlsCert == nil) != (tlsKey == nil) { problems.append("--tls-cert and --tls-key go together: give both or neither") }
        var seen = Set<String>()
        for path in endpointPaths {
            if let problem = GPollEndpoint.pathProblem(path) { problems.append(problem) }
            if !seen.insert(path).inserted { problems.append("--endpoint '\(path)' is given twice") }
        }
        let timesValid = pollTimeout.isFinite && pollTimeout >= 0 && (idleExpiry.map { $0.isFinite && $0 > 0 } ?? true)
        if timesValid { problems += broadcasterConfiguration.problems.map { "settings: \($0)" } }
        problems += serverConfiguration.problems
        problems += cluster.problems
        if maxMessageBytes < 0 { problems.append("--max-message-bytes must not be negative") }
        guard problems.isEmpty else {
            throw ValidationError(problems.joined(separator: "\n"))
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gpoll-server")

        if let (old, new) = FileDescriptorLimit.raiseToHardLimit() {
            logger.info("file descriptor limit", metadata: ["gpoll.soft_limit_was": "\(old)", "gpoll.soft_limit": "\(new)"])
        } else {
            logger.warning("could not raise the file descriptor limit")
        }

        let server: GPollServer
        let node: GPollClusterNode?
        do {
            let endpoints = try endpointPaths.map {
                try GPollEndpoint(path: $0, configuration: broadcasterConfiguration, logger: Logger(label: "gpoll.endpoint"))
            }
            node = try cluster.node(endpoints: endpoints, logger: logger)
            server = try GPollServer(configuration: serverConfiguration, endpoints: endpoints, logger: logger, adminPublisher: node)
        } catch let error as GPollConfigurationError {
            throw ValidationError(error.problems.joined(separator: "\n"))
        }
        // The node joins the bus before the server listens, and leaves after it stopped.
        try await node?.start()
        let group = ServiceGroup(
            configuration: .init(
                services: (node.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
