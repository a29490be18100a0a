import GPollCore
import NIOCore
import NIOHTTP1

/// Serves gpoll endpoints in any NIO HTTP/1 server pipeline.
///
/// Add it after `configureHTTPServerPipeline(withPipeliningAssistance: false)`
/// and, ideally, after a ``GPollProtocolErrorHandler``. It keeps requests that a
/// client pipelines behind its own waiting poll and answers them in order
/// itself: NIO's pipelining assistance would stop reading the socket for as long
/// as any response is outstanding, which for a long-poll server means two
/// `epoll_ctl` calls per delivered message (see BENCHMARKS.md). With
/// ``UnknownPathPolicy/forward`` add pipelining assistance (`true`), so that the
/// application's responses stay in order with gpoll's. It answers requests whose path is one of the
/// router's endpoints, with any method but HEAD (405: a HEAD answer has no
/// body, so a HEAD poll would lose its message); request bodies are ignored.
/// Other paths get 404, or are passed on to the next handler with
/// ``UnknownPathPolicy/forward``.
///
/// Per connection it keeps only what one request needs, so an idle waiting
/// poll costs a few dozen bytes here; the answer to a waiting poll arrives on
/// this channel's event loop through the router's poll dispatcher. The channel's
/// event loop must be one of the group the router was made with.
public final class GPollHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    /// What to do with a request for a path that is no endpoint.
    public enum UnknownPathPolicy: Sendable {
        /// Answer 404.
        case notFound
        /// Pass the request on down the pipeline, for the application to answer.
        case forward
    }

    /// Longer request targets get 414 (Spec: bounded input).
    public static let maximumTargetLength = 8192

    private let router: GPollRouter
    private let unknownPaths: UnknownPathPolicy
    /// This channel's loop's registry in the router's dispatcher (set when added).
    private var registry: LoopPollRegistry?
    /// This connection's slot in `registry`, taken at its first poll, freed when it ends.
    private var slot: UInt32?
    /// This connection's requests, waiting poll, pipelined backlog and quiescing;
    /// the handler does what its actions say.
    private var connection = ConnectionStateMachine()

    /// How many requests a client may pipeline behind its waiting poll.
    public static let maximumBacklog = ConnectionStateMachine.maximumBacklog

    /// How a poll's 200 goes down the pipeline.
    enum ResponseWriting {
        /// Head, body and end, for NIO's `HTTPResponseEncoder` (any pipeline).
        case httpParts
        /// The whole response as one pre-encoded `.body`, shared by a broadcast's
        /// deliveries: only with ``GPollResponseEncoder`` (``GPollServer``'s pipeline).
        case preEncodedMessages
    }

    private let responseWriting: ResponseWriting

    public convenience init(router: GPollRouter, unknownPaths: UnknownPathPolicy = .notFound) {
        self.init(router: router, unknownPaths: unknownPaths, responseWriting: .httpParts)
    }

    init(router: GPollRouter, unknownPaths: UnknownPathPolicy, responseWriting: ResponseWriting) {
        self.router = router
        self.unknownPaths = unknownPaths
        self.responseWriting = responseWriting
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        guard let registry = router.dispatcher.registry(for: context.eventLoop) else {
            preconditionFailure("GPollHTTPHandler on an event loop outside its router's EventLoopGroup: make the GPollRouter with the bootstrap's group (GPollRouter(_:eventLoopGroup:))")
        }
        self.registry = registry
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            switch connection.headReceived(classify(head)) {
            case .forward: context.fireChannelRead(data)
            case .continueIfExpected: context.continueIfExpected(head)
            case .none: break
            }
        case .body:
            if connection.bodyReceived() { context.fireChannelRead(data) }
        case .end:
            switch connection.endReceived() {
            case .forward: context.fireChannelRead(data)
            case .serve(let request, let keepAlive):
                serve(request, keepAlive: keepAlive, context: context)
                runNextActions(context: context)
            case .close: context.close(promise: nil)
            case .queued, .none: break
            }
        }
    }

    /// Serves pipelined requests in order until one waits, and closes a quiesced connection.
    private func runNextActions(context: ChannelHandlerContext) {
        while true {
            switch connection.nextAction() {
            case .serve(let request, let keepAlive): serve(request, keepAlive: keepAlive, context: context)
            case .close: return context.close(promise: nil)
            case .none: return
            }
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // An idle connection closes now; a busy one after its answers (a waiting
        // poll is answered 204 by the endpoint's shutdown).
        if case .close = connection.quiesce() { context.close(promise: nil) }
    }

    private func classify(_ head: HTTPRequestHead) -> ConnectionStateMachine.Head {
        if head.uri.utf8.count > Self.maximumTargetLength {
            return .request(.reject(.empty(.uriTooLong), keepAlive: .close))
        }
        guard let endpoint = router.endpoint(at: GPollRouter.path(of: head.uri)) else {
            return unknownPaths == .forward ? .forward : .request(.reject(.empty(.notFound), keepAlive: ConnectionReuse(head)))
        }
        // A HEAD answer has no body, so a HEAD poll would take a message that
        // never reaches anyone (Spec TR-4); refusing HEAD (TR-3) keeps it harmless.
        if head.method == .HEAD {
            return .request(.reject(.empty(.methodNotAllowed, extraHeaders: [("Allow", "GET")]), keepAlive: ConnectionReuse(head)))
        }
        return .request(.gpoll(endpoint, target: head.uri, keepAlive: ConnectionReuse(head)))
    }

    private func serve(_ request: ConnectionStateMachine.Request, keepAlive: ConnectionReuse, context: ChannelHandlerContext) {
        switch request {
        case .reject(let response, _): context.writeResponse(response, keepAlive: keepAlive)
        case .gpoll(let endpoint, let target, _): serve(endpoint, target: target, keepAlive: keepAlive, context: context)
        }
    }

    private func serve(_ endpoint: GPollEndpoint, target: String, keepAlive: ConnectionReuse, context: ChannelHandlerContext) {
        switch RequestClassification(requestTarget: target.utf8) {
        case .handshake:
            switch endpoint.register() {
            case .registered(let id):
                var body = context.channel.allocator.buffer(capacity: 80)
                body.writeBytes(HandshakeBody.encode(id, advertising: endpoint.configuration.advertisement))
                context.writeResponse(GPollResponse(status: .ok, contentType: GPollResponse.jsonType, body: body), keepAlive: keepAlive)
            case .refused:
                context.writeResponse(.empty(.serviceUnavailable, extraHeaders: [("Retry-After", "1")]), keepAlive: keepAlive)
            }
        case .poll(let id):
            var ack: UInt64?
            if endpoint.configuration.offersAcknowledgedDelivery {
                switch AckParameter.parse(requestTarget: target.utf8) {
                case .absent: ack = nil
                case .acknowledging(let n): ack = n
                case .malformed: return context.writeResponse(.refusal(.badRequest, reason: .malformed), keepAlive: keepAlive)
                }
            }
            poll(endpoint, id: id, acknowledging: ack, keepAlive: keepAlive, context: context)
        case .notFound:
            // Not a canonical id: never one this server issued (NF-10).
            endpoint.metrics.notFound(.unknown)
            context.writeResponse(.refusal(.notFound, reason: .unknown), keepAlive: keepAlive)
        case .badRequest:
            context.writeResponse(.refusal(.badRequest, reason: .malformed), keepAlive: keepAlive)
        }
    }

    private func poll(_ endpoint: GPollEndpoint, id: ClientID, acknowledging ack: UInt64?, keepAlive: ConnectionReuse, context: ChannelHandlerContext) {
        guard let registry else { preconditionFailure("GPollHTTPHandler used before handlerAdded") }
        // The slot is this connection's before the state machine can hand the token
        // to a publish on another thread; that publish's batch runs on this loop
        // only after this method returns, so it always finds the connection, and
        // `connection.waiting` (the one record of the poll here) is set by then.
        guard let slot = slot ?? registry.attach(self, context: context) else {
            // Millions of polling connections on one loop: the loop's table is full.
            return context.writeResponse(.empty(.serviceUnavailable, extraHeaders: [("Retry-After", "1")]), keepAlive: keepAlive)
        }
        self.slot = slot
        let token = registry.makeToken(slot: slot)
        switch endpoint.poll(id, acknowledging: ack, token: token) {
        case .wait:
            connection.pollWaits(token: token, endpoint: endpoint, keepAlive: keepAlive)
        case .deliver(let message, let sequence):
            var encodings = DeliveryEncodings()
            writeMessage(message, sequence: sequence, to: id, from: endpoint, keepAlive: keepAlive, context: context, encodings: &encodings)
        case .notFound(let reason):
            context.writeResponse(.refusal(.notFound, reason: reason), keepAlive: keepAlive)
        case .badAcknowledgement:
            context.writeResponse(.refusal(.badRequest, reason: .malformed), keepAlive: keepAlive)
        case .endNow:
            context.writeResponse(.empty(.noContent), keepAlive: keepAlive)
        }
    }

    /// Called by the loop's registry, on this channel's loop, with an answer for a poll
    /// of this connection's slot: the waiting poll's, or a late one for an ended poll.
    /// `encodings` is shared by the polls of one batch, which mostly answer with the same bytes.
    func finishPoll(_ completion: PollCompletion, from endpoint: GPollEndpoint, context: ChannelHandlerContext, encodings: inout DeliveryEncodings) {
        switch connection.pollAnswered(token: completion.token) {
        case .stale:
            // Not the poll that waits here: one of an earlier connection in this slot,
            // answered as it closed. It is written nowhere; a message goes back.
            if case .message(let delivery) = completion {
                endpoint.returnUndelivered(delivery.message, sequence: delivery.sequence, to: delivery.client)
            }
        case .answer(let waiting, let keepAlive):
            switch completion {
            case .noContent:
                context.writeResponse(.empty(.noContent), keepAlive: keepAlive)
            case .message(let delivery):
                guard context.channel.isActive else {
                    waiting.endpoint.returnUndelivered(delivery.message, sequence: delivery.sequence, to: delivery.client)
                    return
                }
                writeMessage(delivery.message, sequence: delivery.sequence, to: delivery.client, from: waiting.endpoint, keepAlive: keepAlive, context: context, encodings: &encodings)
            }
            runNextActions(context: context)
        }
    }

    /// Writes a message as a poll's 200; if the write fails the client never got it, so it goes back.
    private func writeMessage(
        _ message: ByteBuffer, sequence: UInt64, to client: ClientID, from endpoint: GPollEndpoint,
        keepAlive: ConnectionReuse, context: ChannelHandlerContext, encodings: inout DeliveryEncodings
    ) {
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in
            endpoint.returnUndelivered(message, sequence: sequence, to: client)
        }
        let header = endpoint.configuration.offersAcknowledgedDelivery ? sequence : nil
        switch responseWriting {
        case .httpParts:
            let head = encodings.heads.head(bodyBytes: message, sequence: header, keepAlive: keepAlive)
            context.writeResponse(head: head, body: message, keepAlive: keepAlive, promise: written)
        case .preEncodedMessages:
            let bytes = encodings.responses.response(for: message, sequence: header, keepAlive: keepAlive, allocator: context.channel.allocator)
            context.writeEncodedResponse(bytes, keepAlive: keepAlive, promise: written)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        connectionEnded()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An I/O error ends the connection; its waiting poll must not take a message.
        // Peers that vanish are routine for long polls, hence debug, not error.
        router.logger.debug("connection error", metadata: ["error": "\(error)", "gpoll.waiting": "\(connection.waiting != nil)"])
        router.connectionMetrics.error()
        connectionEnded()
        context.close(promise: nil)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        connectionEnded()
    }

    /// The waiting poll, if any, is withdrawn so that it takes no message, and the
    /// slot is freed (which also ends the registry's hold on this handler and its
    /// context). Any of the three ends above may come first; the others find nothing.
    private func connectionEnded() {
        if let slot {
            registry?.detach(slot: slot)
            self.slot = nil
        }
        guard let waiting = connection.connectionEnded() else { return }
        waiting.endpoint.withdraw(waiting.token)
    }
}

@available(*, unavailable)
extension GPollHTTPHandler: Sendable {}
