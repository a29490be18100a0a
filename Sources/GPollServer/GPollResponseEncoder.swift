import NIOCore
import NIOHTTP1

/// The response encoder of ``GPollServer``'s gpoll listener, in place of NIO's
/// `HTTPResponseEncoder`, so that a broadcast's 200 can be encoded once and the
/// same bytes written to every waiting poll (``MessageResponseCache``).
///
/// ``GPollHTTPHandler`` in ``GPollHTTPHandler/ResponseWriting/preEncodedMessages``
/// mode writes a delivery as one `.body` holding the whole response, head and
/// message, and no `.head` or `.end`; this encoder passes bodies through as they
/// are, so those bytes go to the socket untouched. Every other response (handshake,
/// 204, 404, 400, 100 Continue) arrives as head, body and end and is encoded here.
/// Every gpoll response has a Content-Length, so nothing is chunked; trailers are
/// not supported (gpoll sends none).
///
/// NIO's encoder cannot take pre-encoded bytes: it pairs each head with the method
/// of the request it answers (a queue its decoder fills), and a response that
/// bypassed it would leave that queue one entry long per delivery.
final class GPollResponseEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            var buffer = context.channel.allocator.buffer(capacity: 192)
            buffer.writeResponseHead(head)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let body):
            context.write(wrapOutboundOut(body), promise: promise)
        case .end(let trailers):
            assert(trailers == nil, "gpoll responses have a Content-Length and no trailers")
            // Nothing to write; a promise is still completed in order with the writes before it.
            if let promise { context.write(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise) }
        }
    }
}

extension ByteBuffer {
    /// Writes `head` as an HTTP/1 status line and header block, ending with the empty line.
    mutating func writeResponseHead(_ head: HTTPResponseHead) {
        writeStaticString("HTTP/")
        writeString(String(head.version.major))
        writeStaticString(".")
        writeString(String(head.version.minor))
        writeStaticString(" ")
        writeString(String(head.status.code))
        writeStaticString(" ")
        writeString(head.status.reasonPhrase)
        writeStaticString("\r\n")
        for (name, value) in head.headers {
            writeString(name)
            writeStaticString(": ")
            writeString(value)
            writeStaticString("\r\n")
        }
        writeStaticString("\r\n")
    }
}

/// The whole 200 of a delivery, head and message, is the same bytes for every
/// client that gets the same client sequence number with the same connection
/// reuse, which in a broadcast is nearly every client. One batch of deliveries on
/// an event loop encodes it once and writes the same bytes (one shared
/// `ByteBuffer`, no copy) to each poll.
struct MessageResponseCache {
    private var last: (sequence: UInt64?, keepAlive: ConnectionReuse, message: ByteBuffer, response: ByteBuffer)?

    /// The encoded `GPollResponse.message(message, sequence:)` with this reuse.
    mutating func response(for message: ByteBuffer, sequence: UInt64?, keepAlive: ConnectionReuse, allocator: ByteBufferAllocator) -> ByteBuffer {
        if let last, last.sequence == sequence, last.keepAlive == keepAlive, Self.sameBytes(last.message, message) {
            return last.response
        }
        var response = allocator.buffer(capacity: 160 + message.readableBytes)
        response.writeResponseHead(GPollResponse.message(message, sequence: sequence).head(keepAlive: keepAlive))
        response.writeImmutableBuffer(message)
        last = (sequence, keepAlive, message, response)
        return response
    }

    /// Whether two buffers view the same bytes of the same storage: a batch's
    /// deliveries all carry the one published buffer, so this is true for them and
    /// costs nothing, where comparing a large message's bytes per client would not.
    private static func sameBytes(_ a: ByteBuffer, _ b: ByteBuffer) -> Bool {
        guard a.readableBytes == b.readableBytes else { return false }
        return a.withUnsafeReadableBytes { x in b.withUnsafeReadableBytes { y in x.baseAddress == y.baseAddress } }
    }
}
