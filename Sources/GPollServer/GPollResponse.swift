import GPollCore
import NIOCore
import NIOHTTP1

/// One complete response. Every gpoll response carries `Cache-Control: no-store`
/// (a poll answer must never be replayed by a cache) and a Content-Length (so
/// that keep-alive and pipelining work without chunking).
struct GPollResponse {
    var status: HTTPResponseStatus
    var contentType: String?
    var body: ByteBuffer?
    var extraHeaders: [(String, String)] = []

    static let jsonType = "application/json"
    static let messageType = "application/octet-stream"

    static func empty(_ status: HTTPResponseStatus, extraHeaders: [(String, String)] = []) -> GPollResponse {
        GPollResponse(status: status, contentType: nil, body: nil, extraHeaders: extraHeaders)
    }

    /// 404 or 400 with its `GPoll-Reason` (NF-9).
    static func refusal(_ status: HTTPResponseStatus, reason: GPollReason) -> GPollResponse {
        .empty(status, extraHeaders: [(GPollHeaderName.reason, reason.rawValue)])
    }

    /// A poll's 200: the message as opaque bytes that no browser may sniff into
    /// something else (TR-8), with its sequence number when `ack` is offered (AK-1).
    static func message(_ body: ByteBuffer, sequence: UInt64?) -> GPollResponse {
        var headers = [("X-Content-Type-Options", "nosniff")]
        if let sequence { headers.append((GPollHeaderName.sequence, String(sequence))) }
        return GPollResponse(status: .ok, contentType: messageType, body: body, extraHeaders: headers)
    }

    func head(keepAlive: ConnectionReuse) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + extraHeaders.count)
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        // A 204 (or 1xx) must not carry Content-Length (RFC 9110 8.6); NIO's encoder
        // removes it, GPollResponseEncoder writes the head as it is.
        if status.mayHaveResponseBody { headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0)) }
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        switch keepAlive {
        case .close: headers.add(name: "Connection", value: "close")
        case .keepAliveHTTP10: headers.add(name: "Connection", value: "keep-alive")
        case .keepAlive: break
        }
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }
}

extension ChannelHandlerContext {
    /// Answers `Expect: 100-continue` at once, so that a client waiting for it (curl
    /// does so for bodies over 1 KiB) sends its body now instead of after a delay.
    func continueIfExpected(_ head: HTTPRequestHead) {
        guard head.version == .http1_1,
              head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" })
        else { return }
        self.writeAndFlush(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }

    /// Writes and flushes `response`; without keep-alive, closes the connection once it is written.
    /// `promise` learns whether the whole response reached the socket.
    func writeResponse(_ response: GPollResponse, keepAlive: ConnectionReuse, promise: EventLoopPromise<Void>? = nil) {
        writeResponse(head: response.head(keepAlive: keepAlive), body: response.body, keepAlive: keepAlive, promise: promise)
    }

    /// Writes and flushes a whole response encoded already (a `.body` that
    /// ``GPollResponseEncoder`` passes through as it is).
    func writeEncodedResponse(_ bytes: ByteBuffer, keepAlive: ConnectionReuse, promise: EventLoopPromise<Void>?) {
        var promise = promise
        if keepAlive == .close {
            let written = promise ?? self.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenComplete { _ in
                self.close(promise: nil)
            }
            promise = written
        }
        self.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(bytes))), promise: promise)
    }

    /// Writes and flushes a response whose head is made already (a broadcast's
    /// deliveries share one head, see ``DeliveryEncodings``).
    func writeResponse(head: HTTPResponseHead, body: ByteBuffer?, keepAlive: ConnectionReuse, promise: EventLoopPromise<Void>? = nil) {
        var promise = promise
        if keepAlive == .close {
            let written = promise ?? self.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenComplete { _ in
                self.close(promise: nil)
            }
            promise = written
        }
        self.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        if let body, body.readableBytes > 0 {
            // The promise goes with the body, the last bytes of a Content-Length
            // response: on `.end` NIO's encoder would queue an empty write to carry it.
            self.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: promise)
            self.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        } else {
            self.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: promise)
        }
    }
}

/// Whether a connection stays open after a response, and whether the client
/// must be told so (an HTTP/1.0 client assumes close unless told keep-alive).
enum ConnectionReuse: UInt8 {
    case close
    case keepAlive
    case keepAliveHTTP10

    init(_ head: HTTPRequestHead) {
        if !head.isKeepAlive {
            self = .close
        } else {
            self = head.version.major == 1 && head.version.minor == 0 ? .keepAliveHTTP10 : .keepAlive
        }
    }
}

/// What the deliveries of one batch on an event loop share: the head of their
/// 200 (NIO's encoder), or the whole encoded 200 (``GPollResponseEncoder``).
struct DeliveryEncodings {
    var heads = MessageHeadCache()
    var responses = MessageResponseCache()
}

/// The head of a poll's 200 is the same for every client that gets the same
/// client sequence number with the same connection reuse, which in a broadcast is
/// nearly every client: one batch of deliveries on an event loop makes it once
/// and shares it (its headers are copy-on-write storage, shared, not copied).
struct MessageHeadCache {
    private var last: (sequence: UInt64?, keepAlive: ConnectionReuse, bodyBytes: Int, head: HTTPResponseHead)?

    /// The head of `GPollResponse.message(body, sequence:)` with this reuse.
    mutating func head(bodyBytes body: ByteBuffer, sequence: UInt64?, keepAlive: ConnectionReuse) -> HTTPResponseHead {
        if let last, last.sequence == sequence, last.keepAlive == keepAlive, last.bodyBytes == body.readableBytes {
            return last.head
        }
        let head = GPollResponse.message(body, sequence: sequence).head(keepAlive: keepAlive)
        last = (sequence, keepAlive, body.readableBytes, head)
        return head
    }
}
