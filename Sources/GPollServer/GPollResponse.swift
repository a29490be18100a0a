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

    func head(keepAlive: Bool) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + extraHeaders.count)
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }
}

extension ChannelHandlerContext {
    /// Writes and flushes `response`; without keep-alive, closes the connection once it is written.
    /// `promise` learns whether the whole response reached the socket.
    func writeResponse(_ response: GPollResponse, keepAlive: Bool, promise: EventLoopPromise<Void>? = nil) {
        self.write(NIOAny(HTTPServerResponsePart.head(response.head(keepAlive: keepAlive))), promise: nil)
        if let body = response.body, body.readableBytes > 0 {
            self.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        if keepAlive {
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
