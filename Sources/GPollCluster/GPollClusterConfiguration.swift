import NIOSSL
import PostgresNIO

/// The settings of one cluster node: where the bus is, who this node is, and
/// the clocks of heartbeat, liveness, fallback polling and pruning.
public struct GPollClusterConfiguration: Sendable {
    /// The database that is the bus, from `postgres://user[:password]@host[:port]/database`
    /// with libpq's `sslmode` and `sslrootcert` for TLS.
    public var database: DatabaseAddress
    /// This node's name in the `gpoll_nodes` table; unique in the cluster.
    public var nodeName: String
    /// The routine id every client of this node gets (the `R` of `R$uuid`): the
    /// proxy routes a poll to the node whose prefix the id carries. Unique in the cluster.
    public var nodePrefix: UInt32
    /// How often the node records that it is alive.
    public var heartbeatInterval: Duration
    /// A node whose last heartbeat is older than this is not waited for by publishes.
    public var livenessWindow: Duration
    /// How often the node reads the table even without a NOTIFY (a lost LISTEN
    /// connection costs this much latency, never a message).
    public var fallbackPollInterval: Duration
    /// A row is pruned once every live node applied it and it is older than this.
    public var retention: Duration
    /// A publish not applied by every live node within this time is answered 503.
    public var publishTimeout: Duration
    /// A database call (connecting aside, which has its own 2 s limit) that has not
    /// answered within this time is given up: its connection is closed, so the stuck
    /// query fails and the next call connects anew, and the database counts as lost
    /// until a call succeeds. Without it a database that freezes (its connections
    /// open, no answers) would stall the node silently.
    ///
    /// The default, 5 s, is well above the longest query a healthy bus runs: a
    /// catch-up batch (at most ``GPollClusterNode/batchSize`` rows by primary key;
    /// even of 1 MiB payloads, about half a second on a loopback) and a prune of a
    /// retention's worth of rows on a busy bus (an indexed range delete, under a
    /// second for hundreds of thousands of rows). Much longer would leave `/readyz`
    /// saying 200 that long after the database froze. Raise it for a bus on a slow
    /// link that carries large messages (a batch of 500 MiB takes 4 s at 1 Gbit/s).
    public var queryTimeout: Duration

    public init(
        database: DatabaseAddress,
        nodeName: String,
        nodePrefix: UInt32,
        heartbeatInterval: Duration = .seconds(1),
        livenessWindow: Duration = .seconds(3),
        fallbackPollInterval: Duration = .seconds(1),
        retention: Duration = .seconds(60),
        publishTimeout: Duration = .seconds(10),
        queryTimeout: Duration = .seconds(5)
    ) {
        self.database = database
        self.nodeName = nodeName
        self.nodePrefix = nodePrefix
        self.heartbeatInterval = heartbeatInterval
        self.livenessWindow = livenessWindow
        self.fallbackPollInterval = fallbackPollInterval
        self.retention = retention
        self.publishTimeout = publishTimeout
        self.queryTimeout = queryTimeout
    }

    /// Every reason these settings cannot run, in words a command line can print.
    public var problems: [String] {
        var problems: [String] = []
        if nodeName.isEmpty { problems.append("the node name must not be empty") }
        if nodePrefix > 999_999_999 { problems.append("the node prefix must have at most nine digits (got \(nodePrefix))") }
        if heartbeatInterval <= .zero { problems.append("the heartbeat interval must be positive") }
        if livenessWindow <= heartbeatInterval { problems.append("the liveness window must be longer than the heartbeat interval") }
        if fallbackPollInterval <= .zero { problems.append("the fallback poll interval must be positive") }
        if retention < .zero { problems.append("the retention must not be negative") }
        if publishTimeout <= .zero { problems.append("the publish timeout must be positive") }
        if queryTimeout <= .zero { problems.append("the query timeout must be positive") }
        return problems
    }
}

/// A PostgreSQL address from a `postgres://` URL, with libpq's `sslmode` and
/// `sslrootcert` parameters for TLS.
public struct DatabaseAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// TLS to the database, by libpq's `sslmode` names.
    public var tls: TLSMode
    /// PEM file of the certificates that sign the server's (libpq's `sslrootcert`),
    /// for ``TLSMode/verifyFull``; nil: the system's trust roots.
    public var rootCertificatePath: String?

    /// libpq's `sslmode` values this node speaks. It refuses libpq's other two:
    /// `allow` (TLS only once plain text was refused) and `verify-ca` (checks who
    /// signed the certificate, not whose it is).
    public enum TLSMode: String, Hashable, Sendable, CaseIterable {
        /// Plain TCP. The default (libpq's is `prefer`): a bus on a private network
        /// or the loopback; choose `verify-full` for one that is not.
        case disable
        /// TLS if the server offers it, plain otherwise; no certificate check.
        case prefer
        /// TLS or no connection; no certificate check (it guards against listeners, not impostors).
        case require
        /// TLS, the server's certificate signed by `sslrootcert` (or a system root)
        /// and naming the host of the URL.
        case verifyFull = "verify-full"
    }

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String,
                tls: TLSMode = .disable, rootCertificatePath: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.rootCertificatePath = rootCertificatePath
    }

    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=…&sslrootcert=…]`
    /// (also `postgresql://`). Percent-escapes in user, password and parameters are decoded.
    public init(url: String) throws(DatabaseAddressError) {
        var rest = Substring(url)
        if rest.hasPrefix("postgres://") { rest = rest.dropFirst("postgres://".count) }
        else if rest.hasPrefix("postgresql://") { rest = rest.dropFirst("postgresql://".count) }
        else { throw DatabaseAddressError(url: url, problem: "it must start with postgres://") }
        guard let at = rest.lastIndex(of: "@") else { throw DatabaseAddressError(url: url, problem: "it names no user (user@host)") }
        let credentials = rest[..<at]
        rest = rest[rest.index(after: at)...]
        let user: Substring
        var password: String?
        if let colon = credentials.firstIndex(of: ":") {
            user = credentials[..<colon]
            password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
        } else {
            user = credentials
        }
        guard !user.isEmpty else { throw DatabaseAddressError(url: url, problem: "the user is empty") }
        guard let slash = rest.firstIndex(of: "/") else { throw DatabaseAddressError(url: url, problem: "it names no database (host/database)") }
        let hostPort = rest[..<slash]
        let path = rest[rest.index(after: slash)...]
        let database = path.prefix { $0 != "?" }
        guard !database.isEmpty else { throw DatabaseAddressError(url: url, problem: "the database is empty") }
        var tls = TLSMode.disable
        var rootCertificatePath: String?
        for parameter in path.dropFirst(database.count + 1).split(separator: "&") {
            let (name, value) = (parameter.prefix { $0 != "=" }, Self.percentDecoded(parameter.drop { $0 != "=" }.dropFirst()))
            switch name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw DatabaseAddressError(url: url, problem: "sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(value)')")
                }
                tls = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw DatabaseAddressError(url: url, problem: "sslrootcert is empty (a PEM file's path)") }
                rootCertificatePath = value
            default:
                throw DatabaseAddressError(url: url, problem: "unknown parameter '\(name)' (the parameters are sslmode and sslrootcert)")
            }
        }
        if rootCertificatePath != nil && tls != .verifyFull {
            // libpq would quietly check the chain alone; say what checks what instead.
            throw DatabaseAddressError(url: url, problem: "sslrootcert is used with sslmode=verify-full only (got sslmode=\(tls.rawValue))")
        }
        var host = hostPort
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":") {
            guard let parsed = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(parsed) else {
                throw DatabaseAddressError(url: url, problem: "the port is not a number from 1 to 65535")
            }
            port = parsed
            host = hostPort[..<colon]
        }
        guard !host.isEmpty else { throw DatabaseAddressError(url: url, problem: "the host is empty") }
        self.init(host: String(host), port: port, user: Self.percentDecoded(user), password: password, database: Self.percentDecoded(database),
                  tls: tls, rootCertificatePath: rootCertificatePath)
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The address without the password, for logs.
    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (tls == .disable ? "" : "?sslmode=\(tls.rawValue)")
            + (rootCertificatePath.map { "&sslrootcert=\($0)" } ?? "")
    }

    /// What postgres-nio connects with; throws (words for a command line) when the
    /// TLS settings cannot be made, such as an unreadable `sslrootcert`.
    func connectionConfiguration() throws(DatabaseAddressError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch self.tls {
        case .disable:
            tls = .disable
        case .prefer, .require:
            var settings = TLSConfiguration.makeClientConfiguration()
            settings.certificateVerification = .none
            let context = try sslContext(settings)
            tls = self.tls == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            var settings = TLSConfiguration.makeClientConfiguration()
            settings.certificateVerification = .fullVerification
            if let rootCertificatePath {
                let roots: [NIOSSLCertificate]
                do {
                    roots = try NIOSSLCertificate.fromPEMFile(rootCertificatePath)
                } catch {
                    throw DatabaseAddressError(url: "\(self)", problem: "sslrootcert '\(rootCertificatePath)' is not a readable PEM file of certificates (\(error))")
                }
                guard !roots.isEmpty else {
                    throw DatabaseAddressError(url: "\(self)", problem: "sslrootcert '\(rootCertificatePath)' holds no certificate")
                }
                settings.trustRoots = .certificates(roots)
            }
            tls = .require(try sslContext(settings))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        // A database that is gone must be noticed within a heartbeat or two, not after the default 10 s.
        configuration.options.connectTimeout = .seconds(2)
        return configuration
    }

    private func sslContext(_ settings: TLSConfiguration) throws(DatabaseAddressError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: settings)
        } catch {
            throw DatabaseAddressError(url: "\(self)", problem: "cannot set up TLS (\(error))")
        }
    }
}

public struct DatabaseAddressError: Error, CustomStringConvertible, Sendable {
    public var url: String
    public var problem: String
    public var description: String { "--cluster '\(url)': \(problem)" }
}
