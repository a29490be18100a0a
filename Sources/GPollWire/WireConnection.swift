import NIOCore
import NIOHTTP1
import NIOPosix

/// One TCP (or TLS) connection to a gpoll server: send requests, structured or as
/// raw bytes, and await responses with deadlines. Keep-alive reuse is the default;
/// ``close()`` ends it with FIN and ``abortWithReset()`` with RST.
public final class WireConnection: Sendable {
    public let endpoint: Endpoint
    public let label: String
    private let channel: any Channel
    private let collector: ResponseCollector
    private let transcript: Transcript?

    init(channel: any Channel, collector: ResponseCollector, endpoint: Endpoint, transcript: Transcript?, label: String) {
        self.channel = channel
        self.collector = collector
        self.endpoint = endpoint
        self.transcript = transcript
        self.label = label
    }

    /// Sends a request; the response is collected by ``next(within:)``.
    public func send(_ request: WireRequest) async throws {
        transcript?.request(request, connection: label, endpoint: endpoint)
        try await write(bytes: request.serialized(host: endpoint.hostHeader), method: request.method, responses: 1)
    }

    /// Sends bytes exactly as given (malformed requests). `expectsResponseTo` tells the
    /// response decoder which method the server will answer, if it answers at all;
    /// `responses` how many requests the bytes hold (pipelined ones: several; a
    /// request cut short: 0).
    public func sendRaw(_ bytes: [UInt8], expectsResponseTo method: String = "GET", responses: Int = 1) async throws {
        transcript?.raw(bytes, connection: label, endpoint: endpoint)
        try await write(bytes: bytes, method: method, responses: responses)
    }

    private func write(bytes: [UInt8], method: String, responses: Int) async throws {
        // The decoder must see a request head to pair responses with requests (a HEAD
        // answer has no body); RawRequestWriter drops that head and sends our bytes.
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: "/")
        let buffer = channel.allocator.buffer(bytes: bytes)
        for _ in 0..<max(0, responses) { channel.write(HTTPClientRequestPart.head(head), promise: nil) }
        do {
            try await channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer))).get()
        } catch {
            transcript?.note("write failed: \(error)", connection: label)
            throw WireError("cannot send on \(label): \(error)")
        }
    }

    /// The next complete response, or why there is none by the deadline.
    public func next(within timeout: Duration) async -> WireEvent {
        let collector = self.collector
        let amount = TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000))
        let event = (try? await channel.eventLoop.flatSubmit { collector.next(timeout: amount) }.get()) ?? .closed
        transcript?.event(event, connection: label)
        return event
    }

    /// As ``next(within:)``, but records nothing when the wait times out (for polling
    /// several connections in short slices).
    public func nextQuietly(within timeout: Duration) async -> WireEvent {
        let collector = self.collector
        let amount = TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000))
        return (try? await channel.eventLoop.flatSubmit { collector.next(timeout: amount) }.get()) ?? .closed
    }

    /// The next response or close if one has already arrived, without waiting and
    /// without recording (the caller records what it takes).
    package func takeReady() async -> WireEvent? {
        let collector = self.collector
        do {
            return try await channel.eventLoop.submit { collector.takeReady() }.get()
        } catch {
            return .closed  // the event loop is gone
        }
    }

    /// Calls `signal` once a response or a close is there to be taken (at once if one
    /// already is), until ``unwatch(_:)``.
    package func watch(_ token: ObjectIdentifier, _ signal: @escaping @Sendable () -> Void) async {
        let collector = self.collector
        let readyNow = (try? await channel.eventLoop.submit { collector.watch(token, signal) }.get()) ?? true
        if readyNow { signal() }
    }

    package func unwatch(_ token: ObjectIdentifier) async {
        let collector = self.collector
        try? await channel.eventLoop.submit { collector.unwatch(token) }.get()
    }

    /// Send, then await the response.
    public func exchange(_ request: WireRequest, within timeout: Duration) async throws -> WireEvent {
        try await send(request)
        return await next(within: timeout)
    }

    /// Whether the server has closed this connection.
    public var isClosed: Bool {
        get async {
            let collector = self.collector
            return (try? await channel.eventLoop.submit { collector.isClosed }.get()) ?? true
        }
    }

    /// Whether the connection is closed (by either side) within `timeout`.
    public func waitForClose(within timeout: Duration) async -> Bool {
        let channel = self.channel
        let amount = TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000))
        let promise = channel.eventLoop.makePromise(of: Bool.self)
        let timer = channel.eventLoop.scheduleTask(in: amount) { promise.succeed(false) }
        channel.closeFuture.whenComplete { _ in
            timer.cancel()
            promise.succeed(true)
        }
        return (try? await promise.futureResult.get()) ?? false
    }

    /// An orderly close: the server sees FIN.
    public func close() async {
        transcript?.note("closing (FIN)", connection: label)
        try? await channel.close()
    }

    /// An abortive close: SO_LINGER {1, 0} makes the kernel send RST instead of FIN.
    public func abortWithReset() async {
        transcript?.note("aborting (RST)", connection: label)
        if let provider = channel as? any SocketOptionProvider {
            try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }
}

/// Outbound: turns the body parts written by ``WireConnection`` into raw bytes on the
/// socket and swallows the request heads that only exist for the decoder's sake.
final class RawRequestWriter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .body(.byteBuffer(let buffer)):
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .body(.fileRegion):
            promise?.fail(WireError("file regions are not supported"))
        case .head, .end:
            promise?.succeed(())
        }
    }
}

/// Inbound: assembles responses and hands them to whoever waits, with deadlines.
/// Touched only on its channel's event loop, hence the unchecked Sendable.
final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private var ready: [WireEvent] = []
    private var terminal: WireEvent?
    private var waiter: EventLoopPromise<WireEvent>?
    private var waiterTimeout: Scheduled<Void>?
    private var eventLoop: (any EventLoop)?
    private var watchers: [ObjectIdentifier: @Sendable () -> Void] = [:]

    var isClosed: Bool { terminal != nil }

    func handlerAdded(context: ChannelHandlerContext) { eventLoop = context.eventLoop }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.status.code < 200 && head.status != .switchingProtocols:
            // An interim response (only with `interimResponses`) has no body and no end.
            let version = "HTTP/\(head.version.major).\(head.version.minor)"
            deliver(.response(WireResponse(status: Int(head.status.code), reason: head.status.reasonPhrase, version: version,
                                           headers: head.headers.map { ($0.name, $0.value) })))
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body += buffer.readableBytesView
        case .end:
            guard let head else { return }
            let version = "HTTP/\(head.version.major).\(head.version.minor)"
            let response = WireResponse(status: Int(head.status.code), reason: head.status.reasonPhrase, version: version,
                                        headers: head.headers.map { ($0.name, $0.value) }, body: body)
            self.head = nil
            body = []
            deliver(.response(response))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError || error is NIOHTTPDecoderError || error is ByteToMessageDecoderError {
            finish(.malformed("\(error)"))
        } else {
            finish(.closed)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.closed)
        context.fireChannelInactive()
    }

    private func finish(_ event: WireEvent) {
        if terminal == nil { terminal = event }
        if let waiter, let terminal {
            self.waiter = nil
            waiterTimeout?.cancel()
            waiter.succeed(terminal)
        } else {
            signalWatchers()
        }
    }

    private func signalWatchers() {
        let signals = watchers.values
        watchers.removeAll()
        for signal in signals { signal() }
    }

    /// Registers a watcher; true when something is there to take already.
    func watch(_ token: ObjectIdentifier, _ signal: @escaping @Sendable () -> Void) -> Bool {
        if !ready.isEmpty || terminal != nil { return true }
        watchers[token] = signal
        return false
    }

    func unwatch(_ token: ObjectIdentifier) { watchers[token] = nil }

    func takeReady() -> WireEvent? {
        if !ready.isEmpty { return ready.removeFirst() }
        return terminal
    }

    private func deliver(_ event: WireEvent) {
        if let waiter {
            self.waiter = nil
            waiterTimeout?.cancel()
            waiter.succeed(event)
        } else {
            ready.append(event)
            signalWatchers()
        }
    }

    func next(timeout: TimeAmount) -> EventLoopFuture<WireEvent> {
        guard let eventLoop else { preconditionFailure("collector used before it was added to a pipeline") }
        if !ready.isEmpty { return eventLoop.makeSucceededFuture(ready.removeFirst()) }
        if let terminal { return eventLoop.makeSucceededFuture(terminal) }
        if let previous = waiter {
            // One waiter at a time; a second wait supersedes the first.
            waiterTimeout?.cancel()
            previous.succeed(.timedOut)
        }
        let promise = eventLoop.makePromise(of: WireEvent.self)
        waiter = promise
        waiterTimeout = eventLoop.scheduleTask(in: timeout) { [self] in
            if let waiter, waiter.futureResult === promise.futureResult {
                self.waiter = nil
                waiter.succeed(.timedOut)
            }
        }
        return promise.futureResult
    }
}
