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
        headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
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
        self.write(NIOAny(HTTPServerResponsePart.head(response.head(keepAlive: keepAlive))), promise: nil)
        if let body = response.body, body.readableBytes > 0 {
            self.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        if keepAlive != .close {
            self.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: promise)
        } else {
            let written = promise ?? self.eventLoop.makePromise(of: Void.self)
            self.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in
                self.close(promise: nil)
            }
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
