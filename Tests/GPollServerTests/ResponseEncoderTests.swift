import GPollCore
@testable import GPollServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@Suite("GPollServer's response encoder and the shared 200 of a broadcast")
struct ResponseEncoderTests {
    static func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test("One batch's deliveries of one message share the encoded bytes; another sequence or reuse gets its own")
    func sharedResponse() {
        var cache = MessageResponseCache()
        let allocator = ByteBufferAllocator()
        let message = allocator.buffer(string: "hello")
        let first = cache.response(for: message, sequence: 1, keepAlive: .keepAlive, allocator: allocator)
        let second = cache.response(for: message, sequence: 1, keepAlive: .keepAlive, allocator: allocator)
        #expect(Self.text(first) == """
            HTTP/1.1 200 OK\r
            Content-Type: application/octet-stream\r
            Content-Length: 5\r
            Cache-Control: no-store\r
            X-Content-Type-Options: nosniff\r
            GPoll-Sequence: 1\r
            \r
            hello
            """)
        let sameStorage = first.withUnsafeReadableBytes { a in second.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
        #expect(sameStorage, "the second delivery was encoded again")
        let other = cache.response(for: message, sequence: 2, keepAlive: .keepAlive, allocator: allocator)
        #expect(Self.text(other).contains("GPoll-Sequence: 2\r\n"))
        let closing = cache.response(for: message, sequence: 2, keepAlive: .close, allocator: allocator)
        #expect(Self.text(closing).contains("Connection: close\r\n"))
        // Same length, other bytes (another publish): encoded anew, never the old message.
        let otherMessage = cache.response(for: allocator.buffer(string: "world"), sequence: 2, keepAlive: .close, allocator: allocator)
        #expect(Self.text(otherMessage).hasSuffix("\r\n\r\nworld"))
    }

    @Test("Through the pipeline: a handshake encoded from its parts, a delivery as one pre-encoded write, a 204 without Content-Length")
    func pipeline() throws {
        let endpoint = try GPollEndpoint(path: "/poll")
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(GPollResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(
            GPollHTTPHandler(router: try GPollRouter([endpoint], eventLoopGroup: channel.embeddedEventLoop), unknownPaths: .notFound, responseWriting: .preEncodedMessages))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        func request(_ target: String) throws {
            try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: ["Host": "h"])))
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
        }
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: IOData.self) {
                if case .byteBuffer(let bytes) = buffer { text += String(buffer: bytes) }
            }
            return text
        }
        try request("/poll?client-id=0")
        let handshake = try written()
        #expect(handshake.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"))
        let body = try #require(handshake.split(separator: "\r\n\r\n", maxSplits: 1).last)
        let id = try HandshakeBody.decode(Array(body.utf8)).get()
        try request("/poll?client-id=\(id)")
        endpoint.send(Array("hello".utf8))
        channel.embeddedEventLoop.run()
        #expect(try written().hasSuffix("GPoll-Sequence: 1\r\n\r\nhello"))
        try request("/poll?client-id=\(id)")
        endpoint.beginShutdown()
        channel.embeddedEventLoop.run()
        #expect(try written() == "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n\r\n")
        _ = try channel.finish()
    }
}
