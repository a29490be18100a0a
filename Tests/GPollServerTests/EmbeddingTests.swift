import GPollCore
import GPollServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The README's embedding example, in an application pipeline that also answers its own paths.
@Suite("embedding the handler")
struct EmbeddingTests {
    /// The application's own handler for every path that is not a gpoll endpoint.
    final class Hello: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "5")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "hello")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    @Test("GPollHTTPHandler in an application's own NIO pipeline, forwarding other paths")
    func embedded() async throws {
        let chat = try GPollEndpoint(path: "/chat")
        let router = try GPollRouter([chat])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    try pipeline.addHandler(GPollProtocolErrorHandler())
                    try pipeline.addHandler(GPollHTTPHandler(router: router, unknownPaths: .forward))
                    try pipeline.addHandler(Hello())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let connection = try await TestConnection.connect(port: channel.localAddress!.port!)
        let handshake = try await connection.request("/chat?client-id=0")
        let id = try HandshakeBody.decode(handshake.body).get()
        #expect(try await connection.request("/other").text == "hello")
        chat.send(Array("hi".utf8))
        #expect(try await connection.request("/chat?client-id=\(id)").text == "hi")
        #expect(try await connection.request("/other", method: .POST, body: [1, 2, 3]).text == "hello")
        await connection.close()
        try await channel.close()
    }
}
