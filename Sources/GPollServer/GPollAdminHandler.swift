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
///
/// A publish is answered 204 once ``GPollEndpoint/send(_:)-(ByteBuffer)`` returned,
/// that is once every client registered before the request has been offered the message.
public final class GPollAdminHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    private let router: GPollRouter
    private let maximumMessageBytes: Int
    private let publisher: (any GPollAdminPublisher)?
    private var request: RequestState = .idle

    private enum RequestState {
        case idle
        case publishing(GPollEndpoint, body: ByteBuffer?, keepAlive: ConnectionReuse)
        case tooLarge(keepAlive: ConnectionReuse)
        case stats(keepAlive: ConnectionReuse)
        case reject(GPollResponse, keepAlive: ConnectionReuse)
    }

    public init(router: GPollRouter, maximumMessageBytes: Int, publisher: (any GPollAdminPublisher)? = nil) {
        self.router = router
        self.maximumMessageBytes = maximumMessageBytes
        self.publisher = publisher
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
        if path == "/stats" {
            guard head.method == .GET || head.method == .HEAD else {
                return .reject(.empty(.methodNotAllowed, extraHeaders: [("Allow", "GET")]), keepAlive: keepAlive)
            }
            return .stats(keepAlive: keepAlive)
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
            if let publisher {
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
        case .reject(let response, let keepAlive):
            context.writeResponse(response, keepAlive: keepAlive)
        }
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
