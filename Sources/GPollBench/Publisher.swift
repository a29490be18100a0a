import NIOCore
import NIOHTTP1

/// Publishes the bench's messages over one keep-alive connection to the
/// publish URL, pipelining requests: each publish is written at once, stamped
/// with its send time just before the write, and its answer matched in order.
///
/// Confined to its channel's event loop.
final class PublisherHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let url: BenchURL
    private let headers: HTTPHeaders
    private let counters: RunCounters
    private var template: ByteBuffer
    private var context: ChannelHandlerContext?
    private var pending: CircularBuffer<EventLoopPromise<HTTPResponseStatus>> = []
    private var status: HTTPResponseStatus = .ok

    init(url: BenchURL, extraHeaders: [(String, String)], size: Int, counters: RunCounters) {
        self.url = url
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "Content-Length", value: String(size))
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        self.headers = headers
        self.counters = counters
        self.template = MessageStamp.template(size: size)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Writes one publish with sequence number `sequence`; the future gives its status.
    /// Call on the channel's event loop; `flush` false lets a caller batch several writes.
    func publish(sequence: UInt64, flush: Bool, on loop: any EventLoop) -> EventLoopFuture<HTTPResponseStatus> {
        let promise = loop.makePromise(of: HTTPResponseStatus.self)
        guard let context, context.channel.isActive else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return promise.futureResult
        }
        pending.append(promise)
        // A copy of the template (copy on write: one allocation and memcpy per message).
        var message = template
        MessageStamp(sequence: sequence, sentAtNanoseconds: NIODeadline.now().uptimeNanoseconds).write(into: &message)
        counters.publishesSent.wrappingAdd(1, ordering: .relaxed)
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.target, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(message))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        if flush { context.flush() }
        return promise.futureResult
    }

    func flush() { context?.flush() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = head.status
        case .body: break
        case .end: pending.popFirst()?.succeed(status)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let promise = pending.popFirst() { promise.fail(error) }
    }
}

@available(*, unavailable)
extension PublisherHandler: Sendable {}
