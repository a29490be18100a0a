import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and how ``GPollServer`` listens.
public struct GPollServerConfiguration: Sendable {
    /// The gpoll listener, open to clients.
    public var host: String
    public var port: Int
    /// PEM files for TLS on the gpoll listener; nil serves plain HTTP.
    public var tls: TLSFiles?
    /// The admin listener (publish and stats). Keep it on loopback or a private
    /// network: anyone who reaches it can publish. nil: no admin listener.
    public var admin: AdminListener?
    /// How long a graceful shutdown waits for responses in flight before it closes every connection.
    public var shutdownGracePeriod: Duration
    /// Where the server's own metrics go (connections, readiness, descriptors), and
    /// the registry the admin listener's `GET /metrics` shows. Give the endpoints
    /// the same value, so that their metrics are in that registry too.
    public var metrics: GPollMetrics
    /// Which web origins may read the gpoll listener's answers (CORS); nil: no CORS headers at all.
    public var cors: CORSPolicy?
    /// The demo chat on the gpoll listener (`/`, `/gpoll.js`, `POST /demo/publish`); nil: off.
    public var demo: Demo?

    public struct TLSFiles: Sendable, Hashable {
        public var certificateChainPath: String
        public var privateKeyPath: String
        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    public struct AdminListener: Sendable, Hashable {
        public var host: String
        public var port: Int
        /// Larger publish bodies get 413.
        public var maximumMessageBytes: Int
        /// When set, a publish must carry `Authorization: Bearer <token>` (else 401).
        /// Required when ``host`` is not a loopback address.
        public var token: String?
        public init(host: String = "127.0.0.1", port: Int = 8081, maximumMessageBytes: Int = 1 << 20, token: String? = nil) {
            self.host = host
            self.port = port
            self.maximumMessageBytes = maximumMessageBytes
            self.token = token
        }

        /// Whether only this machine can reach the listener: `localhost`, 127.0.0.0/8 or ::1.
        public var isLoopback: Bool { Self.isLoopback(host) }

        public static func isLoopback(_ host: String) -> Bool {
            if host == "localhost" { return true }
            var v4 = in_addr()
            if inet_pton(AF_INET, host, &v4) == 1 {
                return withUnsafeBytes(of: &v4) { $0[0] } == 127
            }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, host, &v6) == 1 {
                let bytes = withUnsafeBytes(of: &v6) { Array($0) }
                let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
                let mappedV4Loopback = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
                return bytes == loopback || mappedV4Loopback
            }
            return false
        }
    }

    /// The demo: a chat page at `/` that polls the first endpoint, gpoll.js at
    /// `/gpoll.js`, and `POST /demo/publish`, a publish route open to anyone who
    /// reaches the gpoll listener, so bounded in message size and in rate (one
    /// bucket for all its callers: the demo is for trying gpoll, not for a real chat).
    public struct Demo: Sendable, Hashable {
        /// Larger demo publishes get 413.
        public var maximumMessageBytes: Int
        /// Demo publishes accepted at once before the rate applies (429 with `Retry-After` beyond).
        public var publishBurst: Int
        /// Demo publishes accepted per second on average.
        public var publishesPerSecond: Double
        public init(maximumMessageBytes: Int = 1024, publishBurst: Int = 10, publishesPerSecond: Double = 2) {
            self.maximumMessageBytes = maximumMessageBytes
            self.publishBurst = publishBurst
            self.publishesPerSecond = publishesPerSecond
        }
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        tls: TLSFiles? = nil,
        admin: AdminListener? = AdminListener(),
        shutdownGracePeriod: Duration = .seconds(5),
        metrics: GPollMetrics = .system,
        cors: CORSPolicy? = nil,
        demo: Demo? = nil
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.admin = admin
        self.shutdownGracePeriod = shutdownGracePeriod
        self.metrics = metrics
        self.cors = cors
        self.demo = demo
    }

    /// Every reason these settings cannot run.
    public var problems: [String] {
        var problems: [String] = []
        if !(0...65535).contains(port) { problems.append("port \(port) is not between 0 and 65535") }
        if let admin {
            if !(0...65535).contains(admin.port) { problems.append("admin port \(admin.port) is not between 0 and 65535") }
            if admin.maximumMessageBytes < 0 { problems.append("the maximum message size must not be negative") }
            if admin.token == "" { problems.append("the admin token must not be empty") }
            if admin.token == nil, !admin.isLoopback {
                problems.append("the admin listener on '\(admin.host)' is not a loopback address, so anyone who reaches it could publish: give it an admin token")
            }
        }
        if let demo {
            if demo.maximumMessageBytes < 0 { problems.append("the demo's maximum message size must not be negative") }
            if demo.publishBurst < 1 { problems.append("the demo's publish burst must be 1 or more") }
            if !(demo.publishesPerSecond.isFinite && demo.publishesPerSecond > 0) {
                problems.append("the demo's publish rate must be a positive number per second")
            }
        }
        if shutdownGracePeriod < .zero { problems.append("the shutdown grace period must not be negative") }
        return problems
    }

    /// Reads the PEM files; throws with a clear message if they cannot be used.
    func makeTLSContext() throws -> NIOSSLContext? {
        guard let tls else { return nil }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath)
        } catch {
            throw GPollConfigurationError(problems: ["cannot read the TLS certificate chain '\(tls.certificateChainPath)': \(error)"])
        }
        guard !chain.isEmpty else {
            throw GPollConfigurationError(problems: ["the TLS certificate file '\(tls.certificateChainPath)' holds no PEM certificate"])
        }
        do {
            key = try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)
        } catch {
            throw GPollConfigurationError(problems: ["cannot read the TLS private key '\(tls.privateKeyPath)': \(error)"])
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw GPollConfigurationError(problems: ["cannot use the TLS certificate and key: \(error)"])
        }
    }
}
