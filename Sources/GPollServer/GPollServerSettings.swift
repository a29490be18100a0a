import Configuration
import Foundation
import GPollCore
import Logging
import SystemPackage

/// Every setting of `gpoll-server`, under one name each: `--poll-timeout` on the
/// command line, `GPOLL_POLL_TIMEOUT` in the environment, `"poll-timeout"` in the
/// JSON settings file. A flag beats the environment, which beats the file, which
/// beats the default.
///
/// ``read(_:fileDescriptorLimit:)`` turns what a `ConfigReader` holds into the
/// server's configuration, with every bad value reported by its setting's names.
public struct GPollServerSettings: Sendable {
    public var endpointPaths: [String]
    public var broadcaster: BroadcasterConfiguration
    public var server: GPollServerConfiguration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// The settings file that was read, if any.
    public var file: String?
    /// Whether E and max-clients are the derived defaults (said in the start log).
    public var idleExpiryIsDefault: Bool
    public var clientLimitIsDefault: Bool
    /// This server as a node of a cluster (GPollCluster); nil: alone, no database.
    public var cluster: Cluster?

    /// The cluster settings, as read; GPollCluster parses the database URL.
    public struct Cluster: Sendable, Hashable {
        /// `postgres://user[:password]@host[:port]/db[?sslmode=…&sslrootcert=…]` (a secret: it may hold a password).
        public var url: String
        public var nodeName: String
        public var nodePrefix: UInt32
        public var retention: Duration
        /// A database call not answered within this is given up (GPollClusterConfiguration.queryTimeout).
        public var queryTimeout: Duration
    }

    public enum LogFormat: String, Sendable, CaseIterable {
        /// swift-log's text lines.
        case text
        /// One JSON object per line, for a log collector.
        case json
    }

    /// One setting: its name, and the names it has in each source.
    public struct Setting: Sendable, Hashable {
        /// The name in the settings file, and the long flag without its dashes.
        public let name: String
        public let help: String
        public var flag: String { "--" + name }
        public var environmentVariable: String {
            GPollServerSettings.environmentPrefix.uppercased() + "_"
                + String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        }
        /// How an error names it, in every source's spelling.
        public var names: String { "\(flag), \(environmentVariable), \"\(name)\" in the settings file" }
        var key: ConfigKey { ConfigKey([name]) }
    }

    /// Environment variables start with this and `_`.
    public static let environmentPrefix = "gpoll"

    // MARK: The settings

    public static let config = Setting(name: "config", help: "A JSON settings file whose keys are these settings' names (not read from a file itself).")
    public static let host = Setting(name: "host", help: "Address of the gpoll listener. (default: 127.0.0.1)")
    public static let port = Setting(name: "port", help: "Port of the gpoll listener (0 picks a free port). (default: 8080)")
    public static let endpoint = Setting(name: "endpoint", help: "An endpoint path, each with its own clients; repeat for more (in the environment: comma-separated; in the file: an array). (default: /poll)")
    public static let clientBuffer = Setting(name: "client-buffer", help: "B: messages a client may hold undelivered; one more evicts it. (default: 100)")
    public static let routineMaxClients = Setting(name: "routine-max-clients", help: "Clients per routine id (the number before '$' in an id). (default: 1000)")
    public static let pollTimeout = Setting(name: "poll-timeout", help: "T: a poll with nothing to deliver ends with 204 after this many seconds; 0 holds it for ever. (default: 30)")
    public static let idleExpiry = Setting(name: "idle-expiry", help: "E: evict a client with no poll in flight for this many seconds; 0 never does. (default: 2T + 10, 10 when T is 0)")
    public static let maxClients = Setting(name: "max-clients", help: "Refuse handshakes with 503 and Retry-After at this many clients per endpoint; 0 for no limit. (default: the open-file limit less 64, shared among the endpoints)")
    public static let tlsCert = Setting(name: "tls-cert", help: "PEM certificate chain: serve the gpoll listener over TLS (needs tls-key).")
    public static let tlsKey = Setting(name: "tls-key", help: "PEM private key for tls-cert.")
    public static let adminHost = Setting(name: "admin-host", help: "Address of the admin listener (publish, stats, metrics, health). Anyone who reaches it can publish unless admin-token is set, which a non-loopback address requires. (default: 127.0.0.1)")
    public static let adminPort = Setting(name: "admin-port", help: "Port of the admin listener (0 picks a free port). (default: 8081)")
    public static let adminToken = Setting(name: "admin-token", help: "A publish must carry 'Authorization: Bearer <token>'. Prefer the environment or the file: a flag shows in the process list.")
    public static let noAdmin = Setting(name: "no-admin", help: "Run without the admin listener (nothing can publish over HTTP, no metrics or health).")
    public static let maxMessageBytes = Setting(name: "max-message-bytes", help: "Publish bodies larger than this get 413. (default: 1048576)")
    public static let noAck = Setting(name: "no-ack", help: "Do not offer acknowledged delivery (the 'ack' extension): no GPoll-Sequence header, 'ack=n' ignored.")
    public static let noAdvertise = Setting(name: "no-advertise", help: "Answer handshakes with the gpoll/1 object {\"client-id\":\"...\"} alone, advertising no version, T, B, E or extensions.")
    public static let corsOrigin = Setting(name: "cors-origin", help: "Let pages of this origin (e.g. https://example.com) read the gpoll listener's answers (CORS); repeat for more, or '*' for any (in the environment: comma-separated; in the file: an array). (default: none, no CORS headers)")
    public static let demo = Setting(name: "demo", help: "Serve the demo chat at / and gpoll.js at /gpoll.js on the gpoll listener, with a size- and rate-limited POST /demo/publish. (default: off)")
    public static let cluster = Setting(name: "cluster", help: "Serve the endpoints as one node of a cluster whose bus is this PostgreSQL database (postgres://user[:password]@host[:port]/db, TLS by libpq's ?sslmode=disable|prefer|require|verify-full&sslrootcert=ca.pem). (default: none, a server alone)")
    public static let nodeName = Setting(name: "node-name", help: "With cluster: this node's name, unique in the cluster.")
    public static let nodePrefix = Setting(name: "node-prefix", help: "With cluster: the routine id (the number before '$') of every id this node hands out; unique in the cluster, the proxy routes polls by it. (default: 0)")
    public static let clusterRetention = Setting(name: "cluster-retention", help: "With cluster: keep a message row this many seconds after every live node applied it; a node away longer evicts its clients when it returns. (default: 60)")
    public static let clusterQueryTimeout = Setting(name: "cluster-query-timeout", help: "With cluster: a database call not answered within this many seconds is given up, its connection closed, and the database counted as lost (/readyz 503) until a call succeeds; a frozen database cannot stall the node. (default: 5)")
    public static let shutdownGrace = Setting(name: "shutdown-grace", help: "Seconds a graceful shutdown waits for responses in flight before it closes every connection. (default: 5)")
    public static let logLevel = Setting(name: "log-level", help: "trace, debug, info, notice, warning, error or critical. (default: info)")
    public static let logFormat = Setting(name: "log-format", help: "text, or json for one JSON object per line. (default: text)")

    /// Every setting, in the order `--help` and README list them.
    public static let all: [Setting] = [
        config, host, port, endpoint, clientBuffer, routineMaxClients, pollTimeout, idleExpiry, maxClients,
        tlsCert, tlsKey, adminHost, adminPort, adminToken, noAdmin, maxMessageBytes, noAck, noAdvertise,
        corsOrigin, demo, cluster, nodeName, nodePrefix, clusterRetention,
        clusterQueryTimeout, shutdownGrace, logLevel, logFormat,
    ]

    /// The default E for a poll timeout T: the Spec's deployment advice (section 14),
    /// E = 2T + 10 s. A client is idle only between an answer and its next poll, so
    /// this leaves it two whole poll cycles and ten seconds of round trips and backoff.
    public static func defaultIdleExpiry(pollTimeout: Duration?) -> Duration {
        (pollTimeout ?? .zero) * 2 + .seconds(10)
    }

    // MARK: Reading

    /// The providers in order of precedence: `flags` (what the command line gave),
    /// then the environment (`GPOLL_*`), then the settings file named by any of them.
    public static func reader(
        flags: [Setting: ConfigValue],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(GPollSettingsError) -> (reader: ConfigReader, file: String?) {
        var problems: [String] = []
        let known = Set(all.map(\.environmentVariable))
        let prefix = environmentPrefix.uppercased() + "_"
        for name in environment.keys.sorted() where name.hasPrefix(prefix) && !known.contains(name) {
            problems.append("unknown setting \(name) in the environment (the settings are: \(all.map(\.environmentVariable).joined(separator: ", ")))")
        }
        let flagProvider = InMemoryProvider(
            name: "command line",
            values: Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey([$0.key.name]), $0.value) })
        )
        let environmentProvider = KeyMappingProvider(
            upstream: EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific([adminToken.environmentVariable]))
        ) { key in key.prepending([environmentPrefix]) }
        var providers: [any ConfigProvider] = [flagProvider, environmentProvider]
        let file: String?
        do {
            file = try await ConfigReader(providers: providers).fetchString(forKey: config.key)
        } catch {
            throw GPollSettingsError(problems: problems + ["\(config.name) (\(config.names)): not a file path"])
        }
        if let file {
            do {
                let provider = try await FileProvider<JSONSnapshot>(filePath: FilePath(file))
                providers.append(provider)
            } catch {
                throw GPollSettingsError(problems: problems + ["cannot read the settings file '\(file)' (\(config.flag), \(config.environmentVariable)): \(error)"])
            }
            problems += unknownFileKeys(file)
        }
        guard problems.isEmpty else { throw GPollSettingsError(problems: problems) }
        return (ConfigReader(providers: providers), file)
    }

    /// Top-level keys of the settings file that name no setting: a misspelt
    /// setting must not be silently ignored.
    static func unknownFileKeys(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }  // FileProvider already read it: it is a JSON object
        let known = Set(all.map(\.name)).subtracting([config.name])
        return object.keys.sorted().filter { !known.contains($0) }.map {
            "unknown setting \"\($0)\" in the settings file '\(path)' (the settings are: \(known.sorted().joined(separator: ", ")))"
        }
    }

    /// Reads every setting; throws with every problem, each naming its setting.
    /// `fileDescriptorLimit` is the open-file limit the default client limit is
    /// derived from; nil: no default limit.
    public static func read(
        _ config: ConfigReader,
        file: String? = nil,
        fileDescriptorLimit: UInt64?,
        metrics: GPollMetrics = .system
    ) async throws(GPollSettingsError) -> GPollServerSettings {
        var reading = Reading(config: config)
        let host = await reading.string(Self.host) ?? "127.0.0.1"
        let port = await reading.int(Self.port) ?? 8080
        let endpointPaths = await reading.strings(Self.endpoint) ?? ["/poll"]
        let clientBuffer = await reading.int(Self.clientBuffer) ?? 100
        let routineMaxClients = await reading.int(Self.routineMaxClients) ?? 1000
        let pollTimeout = await reading.seconds(Self.pollTimeout) ?? .seconds(30)
        let idleExpirySetting = await reading.seconds(Self.idleExpiry)
        let maxClientsSetting = await reading.int(Self.maxClients)
        let tlsCert = await reading.string(Self.tlsCert)
        let tlsKey = await reading.string(Self.tlsKey)
        let adminHost = await reading.string(Self.adminHost) ?? "127.0.0.1"
        let adminPort = await reading.int(Self.adminPort) ?? 8081
        let adminToken = await reading.string(Self.adminToken, isSecret: true)
        let noAdmin = await reading.bool(Self.noAdmin) ?? false
        let maxMessageBytes = await reading.int(Self.maxMessageBytes) ?? 1 << 20
        let noAck = await reading.bool(Self.noAck) ?? false
        let noAdvertise = await reading.bool(Self.noAdvertise) ?? false
        let corsOrigins = await reading.strings(Self.corsOrigin) ?? []
        let demo = await reading.bool(Self.demo) ?? false
        let clusterURL = await reading.string(Self.cluster, isSecret: true)
        let nodeName = await reading.string(Self.nodeName)
        let nodePrefix = await reading.int(Self.nodePrefix) ?? 0
        let clusterRetention = await reading.seconds(Self.clusterRetention) ?? .seconds(60)
        // GPollClusterConfiguration's default; GPollServer does not depend on GPollCluster.
        let clusterQueryTimeout = await reading.seconds(Self.clusterQueryTimeout) ?? .seconds(5)
        let shutdownGrace = await reading.seconds(Self.shutdownGrace) ?? .seconds(5)
        let logLevelName = await reading.string(Self.logLevel) ?? "info"
        let logFormatName = await reading.string(Self.logFormat) ?? "text"
        var problems = reading.problems

        func check(_ ok: Bool, _ setting: Setting, _ rule: String, got value: Any?) {
            guard !ok else { return }
            problems.append("\(setting.name) \(rule)\(value.map { " (got \($0))" } ?? "") [\(setting.names)]")
        }
        check(Logger.Level(rawValue: logLevelName) != nil, Self.logLevel, "must be one of trace, debug, info, notice, warning, error, critical", got: "'\(logLevelName)'")
        check(LogFormat(rawValue: logFormatName) != nil, Self.logFormat, "must be text or json", got: "'\(logFormatName)'")
        check(pollTimeout >= .zero, Self.pollTimeout, "must be 0 (for ever) or a positive number of seconds", got: nil)
        if let idleExpirySetting { check(idleExpirySetting >= .zero, Self.idleExpiry, "must be 0 (never) or a positive number of seconds", got: nil) }
        if let maxClientsSetting { check(maxClientsSetting >= 0, Self.maxClients, "must be 0 (no limit) or a positive number", got: maxClientsSetting) }
        check(clientBuffer >= 1, Self.clientBuffer, "(the client buffer B) must be at least 1", got: clientBuffer)
        check(routineMaxClients >= 1, Self.routineMaxClients, "must be at least 1", got: routineMaxClients)
        check((0...65535).contains(port), Self.port, "must be between 0 and 65535", got: port)
        check((0...65535).contains(adminPort), Self.adminPort, "must be between 0 and 65535", got: adminPort)
        check(maxMessageBytes >= 0, Self.maxMessageBytes, "must not be negative", got: maxMessageBytes)
        check(shutdownGrace >= .zero, Self.shutdownGrace, "must not be negative", got: nil)
        if (tlsCert == nil) != (tlsKey == nil) {
            problems.append("tls-cert and tls-key go together: give both or neither [\(Self.tlsCert.names); \(Self.tlsKey.names)]")
        }
        check(!host.isEmpty, Self.host, "must not be empty", got: nil)
        check(!adminHost.isEmpty, Self.adminHost, "must not be empty", got: nil)
        if let adminToken { check(!adminToken.isEmpty, Self.adminToken, "must not be empty", got: nil) }
        if !noAdmin, adminToken == nil {
            check(GPollServerConfiguration.AdminListener.isLoopback(adminHost), Self.adminToken,
                  "is required when the admin listener is not on loopback: anyone who reaches \(adminHost) could publish", got: nil)
        }
        var seen = Set<String>()
        for path in endpointPaths {
            if let problem = GPollEndpoint.pathProblem(path) { problems.append("\(problem) [\(Self.endpoint.names)]") }
            check(seen.insert(path).inserted, Self.endpoint, "'\(path)' is given twice", got: nil)
        }
        check(!endpointPaths.isEmpty, Self.endpoint, "needs at least one path", got: nil)
        if clusterURL == nil {
            check(nodeName == nil, Self.nodeName, "needs cluster", got: nil)
        } else {
            check(nodeName.map { !$0.isEmpty } ?? false, Self.nodeName, "is needed with cluster (a name unique in the cluster)", got: nil)
        }
        check((0...999_999_999).contains(nodePrefix), Self.nodePrefix, "must be between 0 and 999999999 (at most nine digits)", got: nodePrefix)
        check(clusterRetention >= .zero, Self.clusterRetention, "must be 0 or more seconds", got: nil)
        check(clusterQueryTimeout > .zero, Self.clusterQueryTimeout, "must be more than 0 seconds", got: nil)
        var cors: CORSPolicy?
        if !corsOrigins.isEmpty {
            do { cors = try CORSPolicy(allowing: corsOrigins) } catch let error as GPollConfigurationError {
                problems += error.problems.map { "\($0) [\(Self.corsOrigin.names)]" }
            } catch {
                problems.append("\(error) [\(Self.corsOrigin.names)]")
            }
        }

        let idleExpiry = idleExpirySetting ?? Self.defaultIdleExpiry(pollTimeout: pollTimeout == .zero ? nil : pollTimeout)
        let maxClients = maxClientsSetting
            ?? fileDescriptorLimit.map { FileDescriptorLimit.defaultClientLimit(endpoints: endpointPaths.count, softLimit: $0) }
        let broadcaster = BroadcasterConfiguration(
            clientBufferCapacity: clientBuffer,
            routineMaxClients: routineMaxClients,
            pollTimeout: pollTimeout == .zero ? nil : pollTimeout,
            idleExpiry: idleExpiry == .zero ? nil : idleExpiry,
            maxClients: maxClients == 0 ? nil : maxClients,
            offersAcknowledgedDelivery: !noAck,
            advertisesSettings: !noAdvertise,
            nodeRoutine: clusterURL == nil ? nil : UInt32(exactly: nodePrefix)
        )
        if problems.isEmpty { problems += broadcaster.problems.map { "settings: \($0)" } }
        guard problems.isEmpty else { throw GPollSettingsError(problems: problems) }

        let server = GPollServerConfiguration(
            host: host,
            port: port,
            tls: tlsCert.flatMap { cert in tlsKey.map { .init(certificateChainPath: cert, privateKeyPath: $0) } },
            admin: noAdmin ? nil : .init(host: adminHost, port: adminPort, maximumMessageBytes: maxMessageBytes, token: adminToken),
            shutdownGracePeriod: shutdownGrace,
            metrics: metrics,
            cors: cors,
            demo: demo ? .init() : nil
        )
        return GPollServerSettings(
            endpointPaths: endpointPaths,
            broadcaster: broadcaster,
            server: server,
            logLevel: Logger.Level(rawValue: logLevelName) ?? .info,
            logFormat: LogFormat(rawValue: logFormatName) ?? .text,
            file: file,
            idleExpiryIsDefault: idleExpirySetting == nil,
            clientLimitIsDefault: maxClientsSetting == nil,
            cluster: clusterURL.map { Cluster(url: $0, nodeName: nodeName ?? "", nodePrefix: UInt32(exactly: nodePrefix) ?? 0,
                                                retention: clusterRetention, queryTimeout: clusterQueryTimeout) }
        )
    }

    /// What the start log says: every setting in force (the admin token only as set or not).
    public var summary: Logger.Metadata {
        func seconds(_ duration: Duration?) -> Logger.MetadataValue {
            guard let duration else { return "0" }
            let (whole, fraction) = duration.components
            return "\(Double(whole) + Double(fraction) / 1e18)"
        }
        var metadata: Logger.Metadata = [
            "gpoll.listen": "\(server.tls == nil ? "http" : "https")://\(server.host):\(server.port)",
            "gpoll.endpoints": "\(endpointPaths.joined(separator: ","))",
            "gpoll.client_buffer": "\(broadcaster.clientBufferCapacity)",
            "gpoll.routine_max_clients": "\(broadcaster.routineMaxClients)",
            "gpoll.poll_timeout": seconds(broadcaster.pollTimeout),
            "gpoll.idle_expiry": "\(seconds(broadcaster.idleExpiry))\(idleExpiryIsDefault ? " (default: 2T + 10)" : "")",
            "gpoll.max_clients": "\(broadcaster.maxClients.map(String.init) ?? "0 (no limit)")\(clientLimitIsDefault && broadcaster.maxClients != nil ? " (default: from the open-file limit)" : "")",
            "gpoll.ack": "\(broadcaster.offersAcknowledgedDelivery)",
            "gpoll.advertise": "\(broadcaster.advertisesSettings)",
            "gpoll.shutdown_grace": seconds(server.shutdownGracePeriod),
            "gpoll.log": "\(logLevel.rawValue) \(logFormat.rawValue)",
        ]
        if let admin = server.admin {
            metadata["gpoll.admin"] = "http://\(admin.host):\(admin.port)"
            metadata["gpoll.admin_token"] = admin.token == nil ? "none" : "set"
            metadata["gpoll.max_message_bytes"] = "\(admin.maximumMessageBytes)"
        } else {
            metadata["gpoll.admin"] = "off"
        }
        metadata["gpoll.cors_origins"] = "\(server.cors.map { $0.allowsAnyOrigin ? "*" : $0.origins.sorted().joined(separator: ",") } ?? "none")"
        metadata["gpoll.demo"] = "\(server.demo != nil)"
        metadata["gpoll.cluster"] = "\(cluster.map { "node \($0.nodeName), prefix \($0.nodePrefix), retention \(seconds($0.retention)), query timeout \(seconds($0.queryTimeout))" } ?? "off")"
        if let file { metadata["gpoll.settings_file"] = "\(file)" }
        return metadata
    }
}

/// Settings that cannot run, each problem naming its setting in every source's spelling.
public struct GPollSettingsError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public init(problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "\n") }
}

/// Reads typed values, collecting a problem (by the setting's names) for each that
/// is present but not of its type, instead of stopping at the first.
private struct Reading {
    let config: ConfigReader
    var problems: [String] = []

    private mutating func fetch<T>(_ setting: GPollServerSettings.Setting, _ kind: String, _ body: (ConfigReader, ConfigKey) async throws -> T?) async -> T? {
        do {
            return try await body(config, setting.key)
        } catch {
            problems.append("\(setting.name) must be \(kind) [\(setting.names)]")
            return nil
        }
    }

    mutating func string(_ setting: GPollServerSettings.Setting, isSecret: Bool = false) async -> String? {
        await fetch(setting, "a string") { try await $0.fetchString(forKey: $1, isSecret: isSecret) }
    }

    mutating func strings(_ setting: GPollServerSettings.Setting) async -> [String]? {
        await fetch(setting, "a list of strings") { try await $0.fetchStringArray(forKey: $1) }
    }

    mutating func int(_ setting: GPollServerSettings.Setting) async -> Int? {
        await fetch(setting, "a whole number") { try await $0.fetchInt(forKey: $1) }
    }

    mutating func bool(_ setting: GPollServerSettings.Setting) async -> Bool? {
        await fetch(setting, "true or false") { try await $0.fetchBool(forKey: $1) }
    }

    /// A number of seconds, possibly fractional; whole numbers are accepted too.
    mutating func seconds(_ setting: GPollServerSettings.Setting) async -> Duration? {
        guard let value = await fetch(setting, "a number of seconds", { try await $0.fetchDouble(forKey: $1) }) else { return nil }
        guard value.isFinite, abs(value) < 1e9 else {
            problems.append("\(setting.name) must be a finite number of seconds [\(setting.names)]")
            return nil
        }
        return .nanoseconds(Int64((value * 1e9).rounded()))
    }
}
