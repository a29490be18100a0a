import Foundation
import GPollCore
import NIOCore
import NIOHTTP1

/// The admin listener's handler: the Spec's harness interface for publishing,
/// and statistics. It belongs on a listener that only trusted parties reach
/// (loopback by default), never on the public gpoll listener.
///
/// - `POST /publish`: the raw body is one message for the first endpoint.
/// - `POST /publish/<path without its leading slash>`: for that endpoint
///   (`/publish/poll` for `/poll`, `/publish/chat/room` for `/chat/room`).
/// - `GET /stats`: JSON with each endpoint's counts and statistics.
/// - `GET /metrics`: the Prometheus text format (when the server has a registry).
/// - `GET /healthz`: 200 while the process serves; `GET /readyz`: 200 while the
///   gpoll listener accepts, 503 while starting or shutting down (and, for a
///   cluster node, while its database is out of reach).
///
/// With an admin token, a publish without `Authorization: Bearer <token>` gets 401;
/// the read-only paths need none (they show counts, never ids or messages).
///
/// A publish is answered 204 once ``GPollEndpoint/send(_:)-(ByteBuffer)`` returned,
/// that is once every client registered before the request has been offered the message.
public final class GPollAdminHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    private let router: GPollRouter
    private let maximumMessageBytes: Int
    private let operations: AdminOperations
    private var request: RequestState = .idle

    private enum RequestState {
        case idle
        case publishing(GPollEndpoint, body: ByteBuffer?, keepAlive: ConnectionReuse)
        case tooLarge(keepAlive: ConnectionReuse)
        case stats(keepAlive: ConnectionReuse)
        case metrics(keepAlive: ConnectionReuse)
        case health(ready: Bool, keepAlive: ConnectionReuse)
        case reject(GPollResponse, keepAlive: ConnectionReuse)
    }

    /// `publisher`: where publishes go instead of straight to the local endpoint (a cluster node).
    public convenience init(router: GPollRouter, maximumMessageBytes: Int, publisher: (any GPollAdminPublisher)? = nil) {
        self.init(router: router, maximumMessageBytes: maximumMessageBytes, operations: AdminOperations(publisher: publisher))
    }

    init(router: GPollRouter, maximumMessageBytes: Int, operations: AdminOperations) {
        self.router = router
        self.maximumMessageBytes = maximumMessageBytes
        self.operations = operations
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = classify(head)
            if case .publishing = request { context.continueIfExpected(head) }
        case .body(var chunk):
            guard case .publishing(let endpoint, var body, let keepAlive) = request else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maximumMessageBytes {
                request = .tooLarge(keepAlive: keepAlive)  // the rest is read and dropped
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            request = .publishing(endpoint, body: body, keepAlive: keepAlive)
        case .end:
            let state = request
            request = .idle
            finish(state, context: context)
        }
    }

    private func classify(_ head: HTTPRequestHead) -> RequestState {
        let keepAlive = ConnectionReuse(head)
        if head.uri.utf8.count > GPollHTTPHandler.maximumTargetLength {
            return .reject(.empty(.uriTooLong), keepAlive: .close)
        }
        let path = GPollRouter.path(of: head.uri)
        let read: RequestState? = switch path {
        case "/stats": .stats(keepAlive: keepAlive)
        case "/metrics": .metrics(keepAlive: keepAlive)
        case "/healthz": .health(ready: true, keepAlive: keepAlive)
        case "/readyz": .health(ready: operations.isReady(), keepAlive: keepAlive)
        default: nil
        }
        if let read {
            guard head.method == .GET || head.method == .HEAD else {
                return .reject(.empty(.methodNotAllowed, extraHeaders: [("Allow", "GET")]), keepAlive: keepAlive)
            }
            return read
        }
        let endpoint: GPollEndpoint?
        if path == "/publish" {
            endpoint = router.endpoints.first
        } else if path.hasPrefix("/publish/") {
            endpoint = router.endpoint(at: "/" + path.dropFirst("/publish/".count))
        } else {
            return .reject(.empty(.notFound), keepAlive: keepAlive)
        }
        guard let endpoint else { return .reject(.empty(.notFound), keepAlive: keepAlive) }
        guard head.method == .POST else {
            return .reject(.empty(.methodNotAllowed, extraHeaders: [("Allow", "POST")]), keepAlive: keepAlive)
        }
        guard operations.authorizes(head.headers) else {
            return .reject(.empty(.unauthorized, extraHeaders: [("WWW-Authenticate", #"Bearer realm="gpoll-admin""#)]), keepAlive: keepAlive)
        }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maximumMessageBytes {
            return .tooLarge(keepAlive: keepAlive)
        }
        return .publishing(endpoint, body: nil, keepAlive: keepAlive)
    }

    private func finish(_ state: RequestState, context: ChannelHandlerContext) {
        switch state {
        case .idle:
            break
        case .publishing(let endpoint, let body, let keepAlive):
            let message = body ?? context.channel.allocator.buffer(capacity: 0)
            if let publisher = operations.publisher {
                publish(message, to: endpoint, through: publisher, keepAlive: keepAlive, context: context)
            } else {
                endpoint.send(message)
                context.writeResponse(.empty(.noContent), keepAlive: keepAlive)
            }
        case .tooLarge(let keepAlive):
            context.writeResponse(.empty(.payloadTooLarge), keepAlive: keepAlive)
        case .stats(let keepAlive):
            var body = context.channel.allocator.buffer(capacity: 512)
            body.writeBytes(statsJSON())
            context.writeResponse(GPollResponse(status: .ok, contentType: GPollResponse.jsonType, body: body), keepAlive: keepAlive)
        case .metrics(let keepAlive):
            guard let text = operations.metricsText() else {
                return context.writeResponse(.empty(.notFound), keepAlive: keepAlive)
            }
            var body = context.channel.allocator.buffer(capacity: text.count)
            body.writeBytes(text)
            context.writeResponse(GPollResponse(status: .ok, contentType: AdminOperations.prometheusTextType, body: body), keepAlive: keepAlive)
        case .health(let ready, let keepAlive):
            var body = context.channel.allocator.buffer(capacity: 16)
            body.writeString(ready ? "ok\n" : "not ready\n")
            context.writeResponse(GPollResponse(status: ready ? .ok : .serviceUnavailable, contentType: "text/plain; charset=utf-8", body: body), keepAlive: keepAlive)
        case .reject(let response, let keepAlive):
            context.writeResponse(response, keepAlive: keepAlive)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        operations.connectionMetrics?.error()
        context.close(promise: nil)
    }

    private func statsJSON() -> Data {
        let report = StatsReport(endpoints: router.endpoints.map { endpoint in
            let stats = endpoint.statistics
            return StatsReport.Endpoint(
                path: endpoint.path,
                clients: endpoint.clientCount,
                waitingPolls: endpoint.waitingPollCount,
                statistics: .init(
                    registeredClients: stats.registeredClients,
                    refusedHandshakes: stats.refusedHandshakes,
                    publishedMessages: stats.publishedMessages,
                    deliveredMessages: stats.deliveredMessages,
                    overflowEvictions: stats.overflowEvictions,
                    idleEvictions: stats.idleEvictions,
                    timedOutPolls: stats.timedOutPolls,
                    notFoundPolls: stats.notFoundPolls
                )
            )
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(report)) ?? Data("{}".utf8)
    }
}

@available(*, unavailable)
extension GPollAdminHandler: Sendable {}

/// What the admin listener offers besides publishing and statistics, from its server.
struct AdminOperations: Sendable {
    /// A publish must carry `Authorization: Bearer <token>`; nil: no check.
    var token: String?
    /// `GET /readyz`: whether the gpoll listener accepts.
    var isReady: @Sendable () -> Bool = { true }
    /// `GET /metrics`: the exposition, nil when there is no registry (404).
    var metricsText: @Sendable () -> [UInt8]? = { nil }
    var connectionMetrics: ConnectionMetrics?
    /// Where publishes go instead of straight to the local endpoint (a cluster node); nil: local.
    var publisher: (any GPollAdminPublisher)?

    static let prometheusTextType = "text/plain; version=0.0.4; charset=utf-8"

    func authorizes(_ headers: HTTPHeaders) -> Bool {
        guard let token else { return true }
        let expected = Array("Bearer \(token)".utf8)
        return headers["authorization"].contains { Self.constantTimeEqual(Array($0.utf8), expected) }
    }

    /// Compares without stopping at the first difference, so that the time taken
    /// does not tell an attacker how much of a guess was right.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// The shape of `GET /stats`.
struct StatsReport: Codable {
    struct Endpoint: Codable {
        var path: String
        var clients: Int
        var waitingPolls: Int
        var statistics: Statistics
    }

    struct Statistics: Codable {
        var registeredClients: UInt64
        var refusedHandshakes: UInt64
        var publishedMessages: UInt64
        var deliveredMessages: UInt64
        var overflowEvictions: UInt64
        var idleEvictions: UInt64
        var timedOutPolls: UInt64
        var notFoundPolls: UInt64
    }

    var endpoints: [Endpoint]
}
