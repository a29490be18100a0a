import Foundation
import GPollCore
import NIOCore
import NIOHTTP1
import Synchronization

/// What the demo serves, built once per server and shared by its connections: the
/// page (polling the demo's endpoint), gpoll.js, and the publish route's limits.
final class DemoSite: Sendable {
    /// The first endpoint: the page polls it and the demo publish route publishes to it.
    let endpoint: GPollEndpoint
    let page: ByteBuffer
    let script: ByteBuffer
    let maximumMessageBytes: Int
    private let publishes: Mutex<TokenBucket>

    /// The line of Clients/js/demo.html that names the endpoint the page polls.
    static let endpointMarker = #"<meta name="gpoll-endpoint" content="/poll">"#

    init(endpoint: GPollEndpoint, settings: GPollServerConfiguration.Demo) {
        self.endpoint = endpoint
        let escapedPath = endpoint.path.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        let page = EmbeddedDemo.page.replacingOccurrences(
            of: Self.endpointMarker, with: #"<meta name="gpoll-endpoint" content="\#(escapedPath)">"#)
        self.page = ByteBuffer(string: page)
        self.script = ByteBuffer(string: EmbeddedDemo.script)
        self.maximumMessageBytes = settings.maximumMessageBytes
        self.publishes = Mutex(TokenBucket(capacity: settings.publishBurst, refillPerSecond: settings.publishesPerSecond,
                                           now: GPollEndpoint.now()))
    }

    /// Spends one of the publish route's tokens, if there is one.
    func admitPublish() -> TokenBucket.Outcome {
        let now = GPollEndpoint.now()
        return publishes.withLock { $0.take(at: now) }
    }
}

/// Answers the demo's routes (``DemoRoute``) behind a ``GPollHTTPHandler`` that
/// forwards the paths that are no endpoint (``GPollHTTPHandler/UnknownPathPolicy/forward``).
final class GPollDemoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let site: DemoSite
    private var request: RequestState = .idle

    private enum RequestState {
        case idle
        case answer(GPollResponse, keepAlive: ConnectionReuse)
        case publishing(body: ByteBuffer?, keepAlive: ConnectionReuse)
        case tooLarge(keepAlive: ConnectionReuse)
    }

    init(site: DemoSite) {
        self.site = site
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = classify(head)
            if case .publishing = request { context.continueIfExpected(head) }
        case .body(var chunk):
            guard case .publishing(var body, let keepAlive) = request else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > site.maximumMessageBytes {
                request = .tooLarge(keepAlive: keepAlive)  // the rest is read and dropped
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            request = .publishing(body: body, keepAlive: keepAlive)
        case .end:
            let state = request
            request = .idle
            finish(state, context: context)
        }
    }

    private func classify(_ head: HTTPRequestHead) -> RequestState {
        let keepAlive = ConnectionReuse(head)
        let nosniff = ("X-Content-Type-Options", "nosniff")
        switch DemoRoute(method: head.method, path: GPollRouter.path(of: head.uri)) {
        case .page:
            return .answer(GPollResponse(status: .ok, contentType: "text/html; charset=utf-8", body: site.page, extraHeaders: [nosniff]),
                           keepAlive: keepAlive)
        case .script:
            // A module script must come as JavaScript, or the browser refuses to run it.
            return .answer(GPollResponse(status: .ok, contentType: "text/javascript; charset=utf-8", body: site.script, extraHeaders: [nosniff]),
                           keepAlive: keepAlive)
        case .publish:
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > site.maximumMessageBytes {
                return .tooLarge(keepAlive: keepAlive)
            }
            return .publishing(body: nil, keepAlive: keepAlive)
        case .methodNotAllowed(let allow):
            return .answer(.empty(.methodNotAllowed, extraHeaders: [("Allow", allow)]), keepAlive: keepAlive)
        case .notFound:
            return .answer(.empty(.notFound), keepAlive: keepAlive)
        }
    }

    private func finish(_ state: RequestState, context: ChannelHandlerContext) {
        switch state {
        case .idle:
            break
        case .answer(let response, let keepAlive):
            context.writeResponse(response, keepAlive: keepAlive)
        case .tooLarge(let keepAlive):
            context.writeResponse(.empty(.payloadTooLarge), keepAlive: keepAlive)
        case .publishing(let body, let keepAlive):
            switch site.admitPublish() {
            case .granted:
                site.endpoint.send(body ?? context.channel.allocator.buffer(capacity: 0))
                context.writeResponse(.empty(.noContent), keepAlive: keepAlive)
            case .refused(let seconds):
                context.writeResponse(.empty(.tooManyRequests, extraHeaders: [("Retry-After", String(seconds))]), keepAlive: keepAlive)
            }
        }
    }
}

@available(*, unavailable)
extension GPollDemoHandler: Sendable {}
