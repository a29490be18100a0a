import ArgumentParser
import Configuration
import GPollCluster
import GPollCore
import GPollServer
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The command line: ArgumentParser for `--help` and for the flags' types; what the
/// flags say then goes, ahead of the environment and the settings file, through
/// ``GPollServerSettings``, the one model of the settings.
@main
struct GPollServerCommand: AsyncParsableCommand {
    typealias Settings = GPollServerSettings

    static let configuration = CommandConfiguration(
        commandName: "gpoll-server",
        abstract: "The gpoll/1.1 reference server: HTTP long-poll broadcast on SwiftNIO.",
        discussion: """
            Clients handshake and poll at each endpoint path on the gpoll listener \
            (--host/--port), for example GET /poll?client-id=0.

            PUBLISHING happens only on a separate admin listener (--admin-host/--admin-port, \
            loopback by default), so publishing is never open to the world unless you bind \
            the admin listener to a public address yourself, which needs --admin-token:
              POST /publish            the raw body is one message for the first --endpoint
              POST /publish/<path>     for the endpoint at /<path> (e.g. /publish/chat/room
                                       for --endpoint /chat/room)
              GET  /stats              clients, waiting polls and counters (JSON)
              GET  /metrics            the same and more in Prometheus' text format
              GET  /healthz, /readyz   200 while alive; 200 while accepting (503 in shutdown)
            A publish is answered 204 once every client registered before it was offered the \
            message. The gpoll listener never publishes (unless --demo, below).

            gpoll/1.1: the handshake object advertises the settings in force, \
            {"client-id":"...","gpoll":"1.1","poll-timeout":T,"client-buffer":B,"idle-expiry":E,"extensions":["ack"]} \
            (--no-advertise: client-id alone). With the ack extension (--no-ack turns it off) \
            every message answer carries GPoll-Sequence: n, and a poll with ack=n acknowledges \
            messages up to n and gets the next one, re-sent if its answer was lost. 404 and 400 \
            answers carry GPoll-Reason: unknown, evicted, expired or malformed.

            BROWSERS: --cors-origin ORIGIN (repeatable, or '*') lets pages of those origins read \
            the gpoll listener's answers (Access-Control-Allow-Origin, Vary: Origin, and \
            GPoll-Sequence, GPoll-Reason, Retry-After exposed); preflights are answered 204. \
            Without it no CORS header is sent. --demo serves a chat page at / and gpoll.js at \
            /gpoll.js on the gpoll listener, polling the first --endpoint, with a demo-only \
            POST /demo/publish there (1 KiB messages at most, 10 at once then 2 a second, \
            413 and 429 beyond); without --demo the gpoll listener never publishes.

            SETTINGS: every option is also an environment variable and a key of the JSON \
            settings file (--config): --poll-timeout is GPOLL_POLL_TIMEOUT and "poll-timeout". \
            A flag beats the environment, which beats the file. A bad value exits 2 before \
            anything listens.

            SIGTERM or SIGINT shut down gracefully: /readyz turns 503, stop accepting, answer \
            waiting polls 204, finish responses in flight, exit 0 within --shutdown-grace seconds.
            """
    )

    static func help(_ setting: GPollServerSettings.Setting, _ value: String) -> ArgumentHelp {
        ArgumentHelp(setting.help, valueName: value)
    }

    @Option(name: .customLong(Settings.config.name), help: help(Settings.config, "file"))
    var config: String?

    @Option(name: .customLong(Settings.host.name), help: help(Settings.host, "address"))
    var host: String?

    @Option(name: .customLong(Settings.port.name), help: help(Settings.port, "port"))
    var port: Int?

    @Option(name: .customLong(Settings.endpoint.name), help: help(Settings.endpoint, "path"))
    var endpoints: [String] = []

    @Option(name: .customLong(Settings.clientBuffer.name), help: help(Settings.clientBuffer, "n"))
    var clientBuffer: Int?

    @Option(name: .customLong(Settings.routineMaxClients.name), help: help(Settings.routineMaxClients, "n"))
    var routineMaxClients: Int?

    @Option(name: .customLong(Settings.pollTimeout.name), help: help(Settings.pollTimeout, "seconds"))
    var pollTimeout: Double?

    @Option(name: .customLong(Settings.idleExpiry.name), help: help(Settings.idleExpiry, "seconds"))
    var idleExpiry: Double?

    @Option(name: .customLong(Settings.maxClients.name), help: help(Settings.maxClients, "n"))
    var maxClients: Int?

    @Option(name: .customLong(Settings.tlsCert.name), help: help(Settings.tlsCert, "pem"))
    var tlsCert: String?

    @Option(name: .customLong(Settings.tlsKey.name), help: help(Settings.tlsKey, "pem"))
    var tlsKey: String?

    @Option(name: .customLong(Settings.adminHost.name), help: help(Settings.adminHost, "address"))
    var adminHost: String?

    @Option(name: .customLong(Settings.adminPort.name), help: help(Settings.adminPort, "port"))
    var adminPort: Int?

    @Option(name: .customLong(Settings.adminToken.name), help: help(Settings.adminToken, "token"))
    var adminToken: String?

    @Flag(name: .customLong(Settings.noAdmin.name), help: ArgumentHelp(Settings.noAdmin.help))
    var noAdmin = false

    @Option(name: .customLong(Settings.maxMessageBytes.name), help: help(Settings.maxMessageBytes, "bytes"))
    var maxMessageBytes: Int?

    @Flag(name: .customLong(Settings.noAck.name), help: ArgumentHelp(Settings.noAck.help))
    var noAck = false

    @Flag(name: .customLong(Settings.noAdvertise.name), help: ArgumentHelp(Settings.noAdvertise.help))
    var noAdvertise = false

    @Option(name: .customLong(Settings.shutdownGrace.name), help: help(Settings.shutdownGrace, "seconds"))
    var shutdownGrace: Double?

    @OptionGroup(title: "Cluster")
    var cluster: ClusterOptions

    @Option(name: .customLong(Settings.corsOrigin.name), help: help(Settings.corsOrigin, "origin"))
    var corsOrigins: [String] = []

    @Flag(name: .customLong(Settings.demo.name), help: ArgumentHelp(Settings.demo.help))
    var demo = false

    @Option(name: .customLong(Settings.logLevel.name), help: help(Settings.logLevel, "level"))
    var logLevel: String?

    @Option(name: .customLong(Settings.logFormat.name), help: help(Settings.logFormat, "format"))
    var logFormat: String?

    /// What the command line gave, by setting; absent flags leave the environment and the file their say.
    var flags: [Settings.Setting: ConfigValue] {
        var flags: [Settings.Setting: ConfigValue] = [:]
        func put(_ setting: Settings.Setting, _ content: ConfigContent?, secret: Bool = false) {
            if let content { flags[setting] = ConfigValue(content, isSecret: secret) }
        }
        put(Settings.config, config.map { .string($0) })
        put(Settings.host, host.map { .string($0) })
        put(Settings.port, port.map { .int($0) })
        put(Settings.endpoint, endpoints.isEmpty ? nil : .stringArray(endpoints))
        put(Settings.clientBuffer, clientBuffer.map { .int($0) })
        put(Settings.routineMaxClients, routineMaxClients.map { .int($0) })
        put(Settings.pollTimeout, pollTimeout.map { .double($0) })
        put(Settings.idleExpiry, idleExpiry.map { .double($0) })
        put(Settings.maxClients, maxClients.map { .int($0) })
        put(Settings.tlsCert, tlsCert.map { .string($0) })
        put(Settings.tlsKey, tlsKey.map { .string($0) })
        put(Settings.adminHost, adminHost.map { .string($0) })
        put(Settings.adminPort, adminPort.map { .int($0) })
        put(Settings.adminToken, adminToken.map { .string($0) }, secret: true)
        put(Settings.noAdmin, noAdmin ? .bool(true) : nil)
        put(Settings.maxMessageBytes, maxMessageBytes.map { .int($0) })
        put(Settings.noAck, noAck ? .bool(true) : nil)
        put(Settings.noAdvertise, noAdvertise ? .bool(true) : nil)
        put(Settings.corsOrigin, corsOrigins.isEmpty ? nil : .stringArray(corsOrigins))
        put(Settings.demo, demo ? .bool(true) : nil)
        put(Settings.shutdownGrace, shutdownGrace.map { .double($0) })
        put(Settings.logLevel, logLevel.map { .string($0) })
        put(Settings.logFormat, logFormat.map { .string($0) })
        for (setting, value) in cluster.flags { flags[setting] = value }
        return flags
    }

    /// Usage errors (ArgumentParser's and the settings') exit 2, like every bad value.
    static func main() async {
        do {
            let command = try parse()
            try await command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                standardError(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }

    static func standardError(_ text: String) {
        JSONLogHandler.writeToStandardError(text.hasSuffix("\n") ? text : text + "\n")
    }

    func run() async throws {
        // The client limit's default comes from the open-file limit, so raise it first.
        let raised = FileDescriptorLimit.raiseToHardLimit()
        let settings: GPollServerSettings
        do {
            let (reader, file) = try await Settings.reader(flags: flags)
            settings = try await Settings.read(reader, file: file, fileDescriptorLimit: raised?.new ?? FileDescriptorLimit.softLimit())
        } catch {
            throw ValidationError(error.description)
        }

        let level = settings.logLevel
        let format = settings.logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        // The process-wide metrics go to one Prometheus registry, which /metrics shows.
        MetricsSystem.bootstrap(GPollMetrics.prometheusFactory(registry: PrometheusCollectorRegistry()))
        let metrics = GPollMetrics.system
        let logger = Logger(label: "gpoll-server")

        if let raised {
            logger.info("file descriptor limit", metadata: ["gpoll.soft_limit_was": "\(raised.old)", "gpoll.soft_limit": "\(raised.new)"])
        } else {
            logger.warning("could not raise the file descriptor limit")
        }
        logger.info("gpoll-server starting", metadata: settings.summary)

        var configuration = settings.server
        configuration.metrics = metrics
        let server: GPollServer
        let node: GPollClusterNode?
        do {
            let endpoints = try settings.endpointPaths.map {
                try GPollEndpoint(path: $0, configuration: settings.broadcaster, logger: Logger(label: "gpoll.endpoint"), metrics: metrics)
            }
            node = try settings.cluster.map {
                try GPollClusterNode(configuration: try ClusterOptions.configuration($0), endpoints: endpoints, logger: logger)
            }
            server = try GPollServer(configuration: configuration, endpoints: endpoints, logger: logger, adminPublisher: node)
        } catch let error as GPollConfigurationError {
            throw ValidationError(error.problems.joined(separator: "\n"))
        } catch let error as DatabaseAddressError {
            throw ValidationError("\(error.description) [\(Settings.cluster.names)]")
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
