import GPollWire
import GPollCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A request the client under test sent to a scripted endpoint, as it arrived.
public struct ClientRequest: Sendable {
    /// Arrival order over the whole case (both listeners), from 0.
    public var index: Int
    /// The TCP connection it came on (1, 2, ... over the whole case).
    public var connection: Int
    /// 0: the endpoint the client was given; 1: the second listener (client/019).
    public var listener: Int
    public var method: String
    /// The request target exactly as sent.
    public var target: [UInt8]
    /// When the request's head arrived, since the case started.
    public var at: Duration
    public var clientID: ClientIDParameter
    public var ack: AckParameter

    /// The raw query (after `?`), as text for findings.
    public var rawQuery: String {
        guard let mark = target.firstIndex(of: UInt8(ascii: "?")) else { return "" }
        return String(decoding: target[(mark + 1)...], as: UTF8.self)
    }

    /// V when the request is a poll: a value of 10 bytes or more (Spec section 4).
    public var polledID: [UInt8]? {
        if case .value(let value) = clientID, value.count >= 10 { return value }
        return nil
    }

    /// A handshake: V absent or under 10 bytes.
    public var isHandshake: Bool { polledID == nil }

    public var ackValue: UInt64? {
        if case .acknowledging(let value) = ack { return value }
        return nil
    }

    /// `GET /poll?client-id=...` for findings and transcripts.
    public var line: String { "\(method) \(Transcript.escape(target, limit: 200))" }
}

/// What the scripted server does with a request.
public struct ScriptedReply: Sendable {
    public enum Action: Sendable {
        /// A complete answer.
        case respond(status: Int, headers: [(String, String)], body: [UInt8])
        /// The status line, the headers (with the whole body's Content-Length) and the
        /// first `sentBytes` bytes of the body, then a close: an answer lost in transit.
        case truncate(status: Int, headers: [(String, String)], body: [UInt8], sentBytes: Int)
        /// Close the connection without an answer.
        case drop
        /// Never answer; the connection stays open until the client closes it (or the case ends).
        case hold
    }

    public var delay: Duration
    public var action: Action

    public static func respond(_ status: Int, headers: [(String, String)] = [], body: [UInt8] = [],
                               after delay: Duration = .zero) -> ScriptedReply {
        ScriptedReply(delay: delay, action: .respond(status: status, headers: headers, body: body))
    }

    public static func message(_ body: [UInt8], headers: [(String, String)] = [], after delay: Duration = .zero) -> ScriptedReply {
        .respond(200, headers: headers, body: body, after: delay)
    }

    public static func noContent(after delay: Duration = .zero) -> ScriptedReply { .respond(204, after: delay) }

    public static func drop(after delay: Duration = .zero) -> ScriptedReply { ScriptedReply(delay: delay, action: .drop) }

    public static let hold = ScriptedReply(delay: .zero, action: .hold)
}

/// Everything a scripted endpoint saw: the requests and what became of each
/// connection. Shared by the event loop and the case; safe from any thread.
public final class ClientWireLog: Sendable {
    public struct Connection: Sendable {
        public var number: Int
        public var listener: Int
        public var opened: Duration
        /// The client's FIN arrived: it closed the connection or only half-closed it.
        /// A server cannot tell which until it writes: a client that fully closed
        /// never reads what comes after (client/009 tells them apart that way).
        public var clientFIN: Duration?
        /// The connection ended (by either side).
        public var closed: Duration?
        /// The scripted server closed it (a drop, a truncation or the case's end).
        public var closedByServer = false
        /// The client's request on it was still unanswered when its FIN came.
        public var finWhileWaiting = false

        /// When the client ended its side of the connection (FIN or close), if it did.
        public var clientEnded: Duration? {
            if let clientFIN { return clientFIN }
            return closedByServer ? nil : closed
        }
    }

    /// What the scripted server did with a request, and when.
    public struct Answer: Sendable {
        public enum Kind: Sendable { case complete, truncated, dropped }
        public var request: Int
        public var status: Int?
        public var kind: Kind
        public var at: Duration
    }

    let start: ContinuousClock.Instant
    let transcript: Transcript
    private let state = Mutex<(requests: [ClientRequest], connections: [Connection], answers: [Answer])>(([], [], []))
    private let lag = Mutex(Duration.zero)

    /// The longest the scripted server's event loops were late during the case (a
    /// loaded machine stalls them). Every time the server notes (a request's arrival,
    /// a FIN) can be that much behind the wire, so judgements of a client's timing
    /// add it to their allowance instead of blaming the client for the server's stall.
    public var longestLoopStall: Duration { lag.withLock { $0 } }

    func noteLoopStall(_ stall: Duration) {
        lag.withLock { $0 = max($0, stall) }
    }

    init(start: ContinuousClock.Instant, transcript: Transcript) {
        self.start = start
        self.transcript = transcript
    }

    public var requests: [ClientRequest] { state.withLock { $0.requests } }
    public var connections: [Connection] { state.withLock { $0.connections } }
    public var answers: [Answer] { state.withLock { $0.answers } }

    /// When request `index` was answered (or dropped), if it was.
    public func answer(to index: Int) -> Answer? { answers.first { $0.request == index } }

    /// The connection a request came on.
    public func connection(of request: ClientRequest) -> Connection { connections[request.connection - 1] }

    var now: Duration { ContinuousClock.now - start }

    func opened(listener: Int) -> Int {
        let at = now
        let number = state.withLock { value in
            value.connections.append(Connection(number: value.connections.count + 1, listener: listener, opened: at))
            return value.connections.count
        }
        transcript.note("connection opened by the client" + (listener == 0 ? "" : " (second listener)"), connection: "c\(number)")
        return number
    }

    func record(method: String, target: [UInt8], connection: Int, listener: Int) -> ClientRequest {
        let at = now
        let request = state.withLock { value in
            let request = ClientRequest(index: value.requests.count, connection: connection, listener: listener, method: method,
                                        target: target, at: at, clientID: ClientIDParameter.parse(requestTarget: target),
                                        ack: AckParameter.parse(requestTarget: target))
            value.requests.append(request)
            return request
        }
        // A note, not a `>` entry: those are what the tester sent, replayable by --reproduce.
        transcript.note("request: \(method) \(Transcript.escape(target, limit: 200))", connection: "c\(connection)")
        return request
    }

    func dropped(request: Int, connection: Int) {
        let at = now
        state.withLock { $0.answers.append(Answer(request: request, status: nil, kind: .dropped, at: at)) }
        transcript.note("closing without an answer", connection: "c\(connection)")
    }

    /// `at`: taken before the answer's first byte was written, the earliest the client
    /// can have had it, so that "not before" judgements (Retry-After, backoff) never
    /// count the scripted server's own delay against the client (a loaded machine can
    /// stall between the write and the next instruction).
    func answered(request: Int, connection: Int, status: Int, headers: [(String, String)], body: [UInt8], truncatedAt: Int? = nil,
                  at: Duration) {
        state.withLock {
            $0.answers.append(Answer(request: request, status: status, kind: truncatedAt == nil ? .complete : .truncated, at: at))
        }
        transcript.event(.response(WireResponse(status: status, reason: HTTPResponseStatus(statusCode: status).reasonPhrase,
                                                headers: headers, body: body)), connection: "c\(connection)")
        if let truncatedAt {
            transcript.note("closed after \(truncatedAt) of the body's \(body.count) bytes (the answer is lost)", connection: "c\(connection)")
        }
    }

    func clientFIN(connection: Int, waiting: Bool) {
        let at = now
        state.withLock { value in
            value.connections[connection - 1].clientFIN = at
            value.connections[connection - 1].finWhileWaiting = waiting
        }
        transcript.note("FIN from the client (it closed or half-closed the connection)" + (waiting ? " while its request waited for an answer" : ""),
                        connection: "c\(connection)")
    }

    func closed(connection: Int, byServer: Bool, waiting: Bool) {
        let at = now
        let first = state.withLock { value -> Bool in
            guard value.connections[connection - 1].closed == nil else { return false }
            value.connections[connection - 1].closed = at
            value.connections[connection - 1].closedByServer = byServer
            return true
        }
        if first {
            transcript.note(byServer ? "connection closed by the scripted server"
                                     : "connection closed" + (waiting ? " before an answer" : ""),
                            connection: "c\(connection)")
        }
    }
}

/// The script of a client case: the answer to each request. Called on an event loop,
/// so it must not block; state lives in the closure (a Mutex).
public typealias ClientScript = @Sendable (ClientRequest) -> ScriptedReply

/// A gpoll endpoint that plays a script, on 127.0.0.1 at a port of the system's
/// choosing: one per case (and a second listener when a case needs one).
public final class ScriptedEndpoint: Sendable {
    public let url: String
    public let port: Int
    private let channel: any Channel

    /// Starts listening. `listener` tags the requests (0 for the endpoint the client is given).
    public static func start(log: ClientWireLog, listener: Int = 0, path: String = "/poll",
                             script: @escaping ClientScript) async throws -> ScriptedEndpoint {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A client's FIN must reach the handler as an event (CL-2), not close the socket.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(ScriptedHandler(log: log, listener: listener, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        let watches = MultiThreadedEventLoopGroup.singleton.makeIterator().map { Self.watchStalls(of: $0, log: log) }
        return ScriptedEndpoint(url: "http://127.0.0.1:\(port)\(path)", port: port, channel: channel, stallWatches: watches)
    }

    private let stallWatches: [RepeatedTask]

    private init(url: String, port: Int, channel: any Channel, stallWatches: [RepeatedTask]) {
        self.url = url
        self.port = port
        self.channel = channel
        self.stallWatches = stallWatches
    }

    /// A task every 20 ms on `loop` that notes how much later than due it ran.
    private static func watchStalls(of loop: any EventLoop, log: ClientWireLog) -> RepeatedTask {
        let period = TimeAmount.milliseconds(20)
        let last = Mutex(NIODeadline.now())
        return loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let now = NIODeadline.now()
            let late = last.withLock { previous -> Int64 in
                defer { previous = now }
                return (now - previous - period).nanoseconds
            }
            if late > 0 { log.noteLoopStall(.nanoseconds(late)) }
        }
    }

    /// Stops listening. Open connections are closed by the handlers' own channel
    /// ends once the client is gone; closing the server channel closes them too.
    public func stop() async {
        for watch in stallWatches { watch.cancel() }
        try? await channel.close()
    }
}

/// One connection of a scripted endpoint.
private final class ScriptedHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let log: ClientWireLog
    private let listener: Int
    private let script: ClientScript
    private var connection = 0
    private var head: HTTPRequestHead?
    /// Requests read but not yet answered (a poll waits here).
    private var waiting = 0
    private var closing = false

    init(log: ClientWireLog, listener: Int, script: @escaping ClientScript) {
        self.log = log
        self.listener = listener
        self.script = script
    }

    func channelActive(context: ChannelHandlerContext) {
        connection = log.opened(listener: listener)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        log.closed(connection: connection, byServer: closing, waiting: waiting > 0)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            log.clientFIN(connection: connection, waiting: waiting > 0)
            // Nothing more can arrive; with no request waiting, the connection is done.
            // With one waiting, the answer still goes out when due: a client that only
            // half-closed reads it (CL-2), one that closed does not.
            if waiting == 0 { close(context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request or a reset: the client's problem, recorded as a close.
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let request = log.record(method: "\(head.method)", target: Array(head.uri.utf8), connection: connection, listener: listener)
            let reply = script(request)
            waiting += 1
            let keepAlive = head.isKeepAlive
            let loop = context.eventLoop.assumeIsolated()
            if reply.delay <= .zero {
                perform(reply.action, request: request.index, keepAlive: keepAlive, context: context)
            } else {
                loop.scheduleTask(in: .nanoseconds(Int64(reply.delay.components.seconds) * 1_000_000_000
                                                   + reply.delay.components.attoseconds / 1_000_000_000)) {
                    self.perform(reply.action, request: request.index, keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    private func perform(_ action: ScriptedReply.Action, request: Int, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive, !closing else { return }
        switch action {
        case .hold:
            return
        case .drop:
            waiting -= 1
            log.dropped(request: request, connection: connection)
            close(context)
        case .respond(let status, let headers, let body):
            waiting -= 1
            let at = log.now
            _ = write(status: status, headers: headers, body: body, sending: body.count, context: context)
            log.answered(request: request, connection: connection, status: status, headers: headers, body: body, at: at)
            if !keepAlive { close(context) }
        case .truncate(let status, let headers, let body, let sentBytes):
            waiting -= 1
            let at = log.now
            let written = write(status: status, headers: headers, body: body, sending: sentBytes, context: context)
            log.answered(request: request, connection: connection, status: status, headers: headers, body: body, truncatedAt: sentBytes,
                         at: at)
            // Close once the partial answer is on the wire, not before it.
            closing = true
            written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }

    private func write(status: Int, headers: [(String, String)], body: [UInt8], sending: Int,
                       context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        var fields = HTTPHeaders(headers)
        // Framing by length; a 204 or 304 has no body and must not say so (RFC 9110, 8.6).
        if !fields.contains(name: "Content-Length") && status != 204 && status != 304 {
            fields.add(name: "Content-Length", value: String(body.count))
        }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: fields)
        let promise = context.eventLoop.makePromise(of: Void.self)
        if sending >= body.count {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
        } else if sending > 0 {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(sending))))), promise: promise)
        } else {
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: promise)
        }
        return promise.futureResult
    }

    private func close(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        context.close(promise: nil)
    }
}
