import NIOCore
import NIOHTTP1

/// Applies a ``CORSPolicy`` on one HTTP/1 connection: adds the policy's headers to
/// each answer and answers preflights itself.
///
/// Put it right before ``GPollHTTPHandler`` (after ``GPollProtocolErrorHandler``).
/// It needs nothing from the handlers behind it: every request gets exactly one
/// final answer, in request order (HTTP/1.1 and GPollHTTPHandler's own ordering of
/// pipelined requests), so the headers decided for each request head wait in a
/// queue for the answer's head. A preflight pipelined behind an unanswered request
/// (browsers never pipeline) waits in the same queue for its turn.
public final class GPollCORSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    private let policy: CORSPolicy
    /// Requests read and not yet answered, oldest first.
    private var unanswered = CircularBuffer<Unanswered>()
    /// The request being read is a preflight: its body and end go nowhere.
    private var readingPreflight = false
    /// An answer's head went out and its end has not yet.
    private var answering = false

    private enum Unanswered {
        /// Passed on; its answer gets these headers.
        case served([CORSPolicy.Header])
        /// Answered here, 204, when its turn comes.
        case preflight([CORSPolicy.Header], keepAlive: ConnectionReuse)
    }

    public init(policy: CORSPolicy) {
        self.policy = policy
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            switch policy.decide(method: head.method, headers: head.headers) {
            case .serve(let headers):
                readingPreflight = false
                unanswered.append(.served(headers))
                context.fireChannelRead(data)
            case .answerPreflight(let headers):
                readingPreflight = true
                unanswered.append(.preflight(headers, keepAlive: ConnectionReuse(head)))
                answerPreflightsInTurn(context: context)
            }
        case .body, .end:
            if !readingPreflight { context.fireChannelRead(data) }
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            answering = true
            if case .served(let headers) = unanswered.popFirst() {
                for header in headers { head.headers.replaceOrAdd(name: header.name, value: header.value) }
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            answering = false
            context.write(data, promise: promise)
            answerPreflightsInTurn(context: context)
        case .head, .body:
            context.write(data, promise: promise)  // 100 Continue, or a body
        }
    }

    /// Answers the preflights at the front of the queue, if no answer is under way.
    private func answerPreflightsInTurn(context: ChannelHandlerContext) {
        while !answering, case .preflight(let headers, let keepAlive) = unanswered.first {
            unanswered.removeFirst()
            let response = GPollResponse.empty(.noContent, extraHeaders: headers.map { ($0.name, $0.value) })
            context.writeResponse(response, keepAlive: keepAlive)
            if keepAlive == .close { return }
        }
    }
}

@available(*, unavailable)
extension GPollCORSHandler: Sendable {}
