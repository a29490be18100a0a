import Foundation
import GPollCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A gpoll endpoint that plays a script, on 127.0.0.1 port 0: each request is
/// recorded (with the server's clock) and answered as the script says, so that a
/// test can misbehave in ways the reference server never does.
final class ScriptedServer: Sendable {
    /// One request as the server saw it.
    struct Request: Sendable {
        /// The request target, such as `/poll?client-id=0`.
        var uri: String
        var method: HTTPMethod
        /// When it arrived, by the server's clock.
        var arrival: ContinuousClock.Instant
        var wallClock: Date
        /// Which connection it came on (0, 1, …).
        var connection: Int

        /// The decoded `client-id`, as a server reads it (GPollCore).
        var clientID: String? {
            if case .value(let bytes) = ClientIDParameter.parse(requestTarget: Array(uri.utf8)) { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }

        var ack: AckParameter { AckParameter.parse(requestTarget: Array(uri.utf8)) }
        var isHandshake: Bool { clientID == "0" }
    }

    /// What to do with a request.
    enum Answer: Sendable {
        case respond(status: HTTPResponseStatus, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Answer after a delay (the connection stays open meanwhile).
        case respondAfter(Duration, status: HTTPResponseStatus, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Close the connection after this long, without answering.
        case dropAfter(Duration)
        /// Send the head and part of the body, then close: a 200 lost in transit.
        case truncate(headers: [(String, String)], body: [UInt8], sent: Int)
        /// Never answer; the client must close.
        case hold

        static func ok(_ body: String, headers: [(String, String)] = []) -> Answer {
            .respond(status: .ok, headers: headers, body: Array(body.utf8))
        }

        static func handshake(_ json: String = #"{"client-id":"0$11111111-2222-4333-8444-555555555555"}"#) -> Answer {
            .respond(status: .ok, headers: [("Content-Type", "application/json")], body: Array(json.utf8))
        }
    }

    typealias Script = @Sendable (_ request: Request, _ index: Int) -> Answer

    private let channel: any Channel
    private let state: ServerState

    final class ServerState: Sendable {
        let requests = Mutex<[Request]>([])
        let endsOfInputWhileWaiting = Mutex(0)
        let closedConnections = Mutex(0)
        let nextConnection = Mutex(0)
        let script: Script
        init(script: @escaping Script) { self.script = script }
    }

    var port: Int { channel.localAddress!.port! }
    var url: String { "http://127.0.0.1:\(port)/poll" }
    var requests: [Request] { state.requests.withLock { $0 } }
    /// How many times a client ended its side of a connection (FIN: a half-close, or
    /// a close) while its request still waited for the answer (CL-2, CL-9).
    var endsOfInputWhileWaiting: Int { state.endsOfInputWhileWaiting.withLock { $0 } }
    var closedConnections: Int { state.closedConnections.withLock { $0 } }

    init(script: @escaping Script) async throws {
        let state = ServerState(script: script)
        self.state = state
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = state.nextConnection.withLock { value -> Int in
                        defer { value += 1 }
                        return value
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(ScriptHandler(state: state, connection: number))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    /// Waits (by polling the record, at most `timeout`) until `count` requests arrived.
    /// `timeout` bounds a hang, not a speed: a fresh-clone CI run saw the whole test
    /// process make no progress for 40 s while the stress tier opened its 10,000 connections.
    func waitForRequests(_ count: Int, timeout: Duration = .seconds(90)) async throws {
        let deadline = ContinuousClock.now + timeout
        while requests.count < count {
            if ContinuousClock.now > deadline { throw ScriptedServerError.timedOut("waiting for \(count) requests, got \(requests.count)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func waitForClosedConnections(_ count: Int, timeout: Duration = .seconds(90)) async throws {
        let deadline = ContinuousClock.now + timeout
        while closedConnections < count {
            if ContinuousClock.now > deadline { throw ScriptedServerError.timedOut("waiting for \(count) closed connections") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func stop() async {
        try? await channel.close()
    }
}

enum ScriptedServerError: Error {
    case timedOut(String)
}

private final class ScriptHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: ScriptedServer.ServerState
    let connection: Int
    private var pending: ScriptedServer.Request?
    /// A request of this connection has not been answered yet.
    private var answerPending = false

    init(state: ScriptedServer.ServerState, connection: Int) {
        self.state = state
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = ScriptedServer.Request(uri: head.uri, method: head.method, arrival: .now, wallClock: Date(), connection: connection)
        case .body:
            break
        case .end:
            guard let request = pending else { return }
            pending = nil
            let index = state.requests.withLock { requests -> Int in
                requests.append(request)
                return requests.count - 1
            }
            answerPending = true
            answer(state.script(request, index), context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Half-closure is allowed on these channels, so a client's FIN arrives here
        // (a half-close keeps reading; a close does not): either way it ended its side,
        // and a gpoll server takes that as a disconnect (section 13) and closes.
        if case ChannelEvent.inputClosed = event {
            if answerPending { state.endsOfInputWhileWaiting.withLock { $0 += 1 } }
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closedConnections.withLock { $0 += 1 }
        context.fireChannelInactive()
    }

    private func answer(_ answer: ScriptedServer.Answer, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        switch answer {
        case .respond(let status, let headers, let body):
            write(status: status, headers: headers, body: body, context: context)
        case .respondAfter(let delay, let status, let headers, let body):
            context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                self.write(status: status, headers: headers, body: body, context: loopBound.value)
            }
        case .dropAfter(let delay):
            context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                self.answerPending = false
                loopBound.value.close(promise: nil)
            }
        case .truncate(let headers, let body, let sent):
            answerPending = false
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(sent)))))).whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        case .hold:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func write(status: HTTPResponseStatus, headers: [(String, String)], body: [UInt8], context: ChannelHandlerContext) {
        answerPending = false
        guard context.channel.isActive else { return }
        var head = HTTPResponseHead(version: .http1_1, status: status)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
