import GPollCore
import NIOCore
import NIOHTTP1

/// Answers malformed HTTP with 400 (and an over-long head with 414), then closes.
///
/// It replaces NIO's `HTTPServerProtocolErrorHandler` so that these answers
/// carry `Cache-Control: no-store` like every other gpoll response. Place it
/// right after `HTTPServerPipelineHandler`.
///
/// The decoder limits each header line, the request target included, to 80 KiB
/// and reports `headerOverflow` past that. Targets up to that size reach
/// ``GPollHTTPHandler`` and get 414 there; beyond it the overflow is almost
/// always the target, so it gets 414 too.
public final class GPollProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false

    public init() {}

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // A connection that is closing (a half-received request found when it
        // closes, say at shutdown) gets no answer; neither does one whose
        // response already started, which cannot be replaced: it just ends.
        guard !responseInProgress, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        let response: GPollResponse = parserError == .headerOverflow ? .empty(.uriTooLong) : .refusal(.badRequest, reason: .malformed)
        context.writeResponse(response, keepAlive: .close)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responseInProgress = true
        case .head, .body: break
        case .end: responseInProgress = false
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension GPollProtocolErrorHandler: Sendable {}
