import NIOCore
import NIOPosix
import NIOSSL

/// Opens raw HTTP/1.1 connections. One per run: every connection shares its event
/// loop group, so hundreds of concurrent connections cost a few KB each.
public final class WireClient: Sendable {
    public struct TLSOptions: Sendable {
        public var caCertificatePath: String?
        public var insecure: Bool
        public init(caCertificatePath: String? = nil, insecure: Bool = false) {
            self.caCertificatePath = caCertificatePath
            self.insecure = insecure
        }
    }

    let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let sslContext: NIOSSLContext?

    public init(tls: TLSOptions = TLSOptions(), group: (any EventLoopGroup)? = nil) throws {
        if let group {
            self.group = group
            ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            ownsGroup = true
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls.insecure { configuration.certificateVerification = .none }
        if let path = tls.caCertificatePath {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
        }
        sslContext = try NIOSSLContext(configuration: configuration)
    }

    public func shutdown() async {
        if ownsGroup { try? await group.shutdownGracefully() }
    }

    /// Connects to the endpoint's host and port; TLS when the URL is https.
    ///
    /// - Parameters:
    ///   - transcript: where the connection records what it sends and receives; nil
    ///     records nothing (a load generator's thousands of publishes).
    ///   - interimResponses: hand out 1xx responses (a `100 Continue`) as responses of
    ///     their own; by default they are dropped and only the final response counts.
    public func connect(to endpoint: Endpoint, transcript: Transcript?, connectTimeout: TimeAmount = .seconds(5),
                        interimResponses: Bool = false) async throws -> WireConnection {
        let collector = ResponseCollector()
        let sslContext = endpoint.isTLS ? self.sslContext : nil
        let host = endpoint.host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        // SNI must be a name, never an address literal.
                        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: isAddress ? nil : host)
                        try sync.addHandler(handler)
                    }
                    try sync.addHandler(RawRequestWriter())
                    try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(
                        leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: interimResponses ? .forward : .drop)))
                    try sync.addHandler(collector)
                }
            }
        let label = transcript?.nextConnectionLabel() ?? "c"
        do {
            let channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
            return WireConnection(channel: channel, collector: collector, endpoint: endpoint, transcript: transcript, label: label)
        } catch {
            transcript?.note("connect to \(endpoint.host):\(endpoint.port) failed: \(error)", connection: label)
            throw WireError("cannot connect to \(endpoint.host):\(endpoint.port): \(error)")
        }
    }
}

import NIOHTTP1
