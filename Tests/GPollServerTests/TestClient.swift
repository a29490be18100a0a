import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One complete HTTP response as the test client saw it.
struct TestResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
    static let timedOut = TestClientError(description: "timed out waiting for a response")
    static let closed = TestClientError(description: "the connection closed before the response was complete")
}

/// A raw HTTP/1.1 test connection: any request target, raw bytes, pipelining,
/// and aborting by FIN or by RST, which URLSession-style clients cannot do.
final class TestConnection: Sendable {
    let channel: any Channel
    private let collector: NIOLoopBound<ResponseCollector>

    private init(channel: any Channel, collector: NIOLoopBound<ResponseCollector>) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        tls: NIOSSLContext? = nil
    ) async throws -> TestConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: "localhost")) }
                    try pipeline.addHandler(HTTPRequestEncoder())
                    try pipeline.addHandler(RawRequestGate())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)))
                    try pipeline.addHandler(ResponseCollector())
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        let collector = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ResponseCollector.self), eventLoop: channel.eventLoop)
        }.get()
        return TestConnection(channel: channel, collector: collector)
    }

    /// Sends a request and returns the future response without waiting (for polls that wait).
    func send(
        _ target: String,
        method: HTTPMethod = .GET,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(10)
    ) -> EventLoopFuture<TestResponse> {
        let promise = channel.eventLoop.makePromise(of: TestResponse.self)
        let channel = self.channel
        let collector = self.collector
        channel.eventLoop.execute {
            collector.value.expect(promise)
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: target)
            head.headers.add(name: "Host", value: "127.0.0.1")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body, !body.isEmpty {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        Self.arm(promise, timeout: timeout)
        return promise.futureResult
    }

    func request(
        _ target: String,
        method: HTTPMethod = .GET,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(10)
    ) async throws -> TestResponse {
        try await send(target, method: method, body: body, headers: headers, timeout: timeout).get()
    }

    /// Writes raw bytes, bypassing the request encoder, and awaits `responses` responses.
    func sendRaw(_ bytes: [UInt8], responses: Int = 1, timeout: TimeAmount = .seconds(10)) -> [EventLoopFuture<TestResponse>] {
        let promises = (0..<responses).map { _ in self.channel.eventLoop.makePromise(of: TestResponse.self) }
        let channel = self.channel
        let collector = self.collector
        channel.eventLoop.execute {
            for promise in promises { collector.value.expect(promise) }
            do {
                // The response decoder only parses responses to requests it saw go out,
                // so it is shown one stand-in head per expected response; the gate
                // keeps those from the wire, and the raw bytes go out instead.
                let gate = try channel.pipeline.syncOperations.handler(type: RawRequestGate.self)
                gate.swallowing = true
                for _ in promises {
                    channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")), promise: nil)
                    channel.write(HTTPClientRequestPart.end(nil), promise: nil)
                }
                gate.swallowing = false
                let encoder = try channel.pipeline.syncOperations.context(handlerType: HTTPRequestEncoder.self)
                encoder.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
            } catch {
                for promise in promises { promise.fail(error) }
            }
        }
        for promise in promises { Self.arm(promise, timeout: timeout) }
        return promises.map(\.futureResult)
    }

    private static func arm(_ promise: EventLoopPromise<TestResponse>, timeout: TimeAmount) {
        let timer = promise.futureResult.eventLoop.scheduleTask(in: timeout) { promise.fail(TestClientError.timedOut) }
        promise.futureResult.whenComplete { _ in timer.cancel() }
    }

    /// Closes with FIN.
    func close() async {
        try? await channel.close()
    }

    /// Aborts with RST: SO_LINGER with a zero timeout makes close() reset the connection.
    func reset() async {
        if let provider = channel as? any SocketOptionProvider {
            try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }

    /// Resolves when the server closed the connection (or after the timeout, with false).
    func waitForClose(timeout: TimeAmount = .seconds(5)) async -> Bool {
        let promise = channel.eventLoop.makePromise(of: Bool.self)
        let timer = channel.eventLoop.scheduleTask(in: timeout) { promise.succeed(false) }
        channel.closeFuture.whenComplete { _ in timer.cancel(); promise.succeed(true) }
        return (try? await promise.futureResult.get()) ?? false
    }
}

/// Collects response parts into whole responses and hands them out in request order.
final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var waiting: [EventLoopPromise<TestResponse>] = []
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    func expect(_ promise: EventLoopPromise<TestResponse>) {
        waiting.append(promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.status.code < 200 && head.status != .switchingProtocols:
            // An interim response has no body and no end: hand it out as it is.
            if !waiting.isEmpty { waiting.removeFirst().succeed(TestResponse(status: head.status, headers: head.headers, body: [])) }
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            self.head = nil
            let response = TestResponse(status: head.status, headers: head.headers, body: body)
            if !waiting.isEmpty { waiting.removeFirst().succeed(response) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(TestClientError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        let pending = waiting
        waiting = []
        for promise in pending { promise.fail(error) }
    }
}

/// Sits between the response decoder and the request encoder: while `swallowing`,
/// request parts stop here (they only told the decoder to expect a response).
final class RawRequestGate: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    var swallowing = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if swallowing {
            promise?.succeed(())
        } else {
            context.write(data, promise: promise)
        }
    }
}
