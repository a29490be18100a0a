import GPollCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// One simulated long-poll client on its own connection: for gpoll the
/// handshake, then one poll always in flight (a new poll right after every 200
/// or 204); for nchan (``BenchProtocol/nchan``) no handshake, and each poll
/// carries the validators of the previous 200. It checks each message's sequence
/// number and records its latency in its loop's tally.
///
/// Confined to its channel's event loop.
final class PollClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    enum Phase { case connecting, handshaking, polling, finished }

    private let url: BenchURL
    private let protocolKind: BenchProtocol
    private let clientBuffer: Int
    private let counters: RunCounters
    private let gate: DeliveryGate
    private let tally: LoopTally
    private let handshakeTimeout: TimeAmount
    /// Completed (successfully or not) when the handshake phase of this client ends.
    private let handshakeDone: EventLoopPromise<Bool>

    private(set) var phase = Phase.connecting
    private var pollHead: HTTPRequestHead?
    private var status: HTTPResponseStatus = .ok
    private var responseHeaders = HTTPHeaders()
    private var body: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var handshakeTimer: Scheduled<Void>?

    /// Unique messages received.
    private(set) var received: UInt64 = 0
    /// The sequence number expected next; numbers skipped on the way wait in `gaps`.
    private var nextSequence: UInt64 = 0
    private var gaps: Set<UInt64> = []

    init(url: BenchURL, protocolKind: BenchProtocol, clientBuffer: Int, counters: RunCounters, gate: DeliveryGate, tally: LoopTally,
         handshakeTimeout: TimeAmount, handshakeDone: EventLoopPromise<Bool>) {
        self.url = url
        self.protocolKind = protocolKind
        self.clientBuffer = clientBuffer
        self.counters = counters
        self.gate = gate
        self.tally = tally
        self.handshakeTimeout = handshakeTimeout
        self.handshakeDone = handshakeDone
    }

    /// A client that handshook and is still polling.
    var isLive: Bool { phase == .polling }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        tally.clients.append(self)
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard phase == .connecting else { return }
        if protocolKind == .nchan {
            // No handshake: the connection is the registration, the first poll waits for message one.
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: url.hostHeader)
            pollHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target, headers: headers)
            joined(context: context)
            return
        }
        phase = .handshaking
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: handshakeTimeout) { [self] in
            guard self.phase == .handshaking else { return }
            self.fail("handshake timed out")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target(clientID: "0"), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func sendPoll(context: ChannelHandlerContext) {
        guard let pollHead else { return }
        context.write(wrapOutboundOut(.head(pollHead)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            responseHeaders = head.headers
            body = nil
        case .body(var chunk):
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            let body = self.body
            self.body = nil
            switch phase {
            case .handshaking: handshakeEnded(body, context: context)
            case .polling: pollEnded(body, context: context)
            case .connecting, .finished: break
            }
        }
    }

    private func handshakeEnded(_ body: ByteBuffer?, context: ChannelHandlerContext) {
        guard status == .ok else {
            fail("handshake answered \(status.code)")
            return
        }
        let bytes = body.map { Array($0.readableBytesView) } ?? []
        switch HandshakeBody.decode(bytes) {
        case .failure(let error):
            fail("handshake body unusable: \(error)")
        case .success(let id):
            handshakeTimer?.cancel()
            handshakeTimer = nil
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: url.hostHeader)
            pollHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target(clientID: id.description), headers: headers)
            joined(context: context)
        }
    }

    /// Registered (gpoll: handshake answered; nchan: connected): count it and start polling.
    private func joined(context: ChannelHandlerContext) {
        phase = .polling
        gate.joined()
        counters.handshakes.wrappingAdd(1, ordering: .relaxed)
        handshakeDone.succeed(true)
        sendPoll(context: context)
    }

    private func pollEnded(_ body: ByteBuffer?, context: ChannelHandlerContext) {
        if protocolKind == .nchan {
            nchanPollEnded(body, context: context)
            return
        }
        switch status.code {
        case 200:
            if let body, let stamp = MessageStamp.read(body) {
                accept(stamp)
            } else {
                counters.foreign.wrappingAdd(1, ordering: .relaxed)
            }
            sendPoll(context: context)
        case 204:
            counters.timeouts.wrappingAdd(1, ordering: .relaxed)
            sendPoll(context: context)
        case 404:
            // Evicted only if more than B messages can be waiting for it on the server.
            let published = UInt64(counters.publishesSent.load(ordering: .relaxed))
            let behind = published > received ? published - received : 0
            if behind > UInt64(clientBuffer) {
                counters.evicted.wrappingAdd(1, ordering: .relaxed)
            } else {
                counters.lost.wrappingAdd(1, ordering: .relaxed)
            }
            finish(context: context)
        default:
            fail("poll answered \(status.code)")
        }
    }

    /// nchan: a 200 moves the cursor to its message; 304 (subscriber timeout) polls
    /// again from where the client is. nchan forgets no subscriber, so anything else is an error.
    private func nchanPollEnded(_ body: ByteBuffer?, context: ChannelHandlerContext) {
        switch status.code {
        case 200:
            guard let cursor = NchanCursor(responseHeaders: responseHeaders) else {
                fail("nchan 200 without Last-Modified and Etag")
                return
            }
            cursor.apply(to: &pollHead!.headers)
            if let body, let stamp = MessageStamp.read(body) {
                accept(stamp)
            } else {
                counters.foreign.wrappingAdd(1, ordering: .relaxed)
            }
            sendPoll(context: context)
        case 304, 408:
            counters.timeouts.wrappingAdd(1, ordering: .relaxed)
            sendPoll(context: context)
        default:
            fail("poll answered \(status.code)")
        }
    }

    private func accept(_ stamp: MessageStamp) {
        let now = NIODeadline.now().uptimeNanoseconds
        tally.latency.record(nanoseconds: now >= stamp.sentAtNanoseconds ? now - stamp.sentAtNanoseconds : 0)
        let sequence = stamp.sequence
        if sequence == nextSequence {
            nextSequence += 1
        } else if sequence > nextSequence {
            // Later than expected: what was skipped is missing unless it still comes.
            counters.outOfOrder.wrappingAdd(1, ordering: .relaxed)
            for skipped in nextSequence..<sequence { gaps.insert(skipped) }
            nextSequence = sequence + 1
        } else if gaps.remove(sequence) != nil {
            counters.outOfOrder.wrappingAdd(1, ordering: .relaxed)
        } else {
            counters.duplicates.wrappingAdd(1, ordering: .relaxed)
            return
        }
        received += 1
        gate.delivered()
    }

    /// Ends this client for a reason counted as an error.
    private func fail(_ kind: String) {
        guard phase != .finished else { return }
        if !counters.isStopping { counters.error(kind) }
        if let context { finish(context: context) }
    }

    /// Stops this client and closes its connection.
    private func finish(context: ChannelHandlerContext) {
        let was = phase
        guard was != .finished else { return }
        phase = .finished
        handshakeTimer?.cancel()
        handshakeTimer = nil
        if was == .polling {
            gate.gone(received: received)
        } else {
            counters.handshakeFailures.wrappingAdd(1, ordering: .relaxed)
            handshakeDone.succeed(false)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed by the bench at the end: the client stays counted as it was.
        if counters.isStopping && phase == .polling {
            context.fireChannelInactive()
            return
        }
        switch phase {
        case .handshaking, .connecting: fail("connection closed during handshake")
        case .polling: fail("connection closed while polling")
        case .finished: break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(BenchErrorKind.describe(error))
    }

    /// How many of the first `published` messages this client lacks (0 unless it is live).
    func missing(of published: UInt64) -> UInt64 {
        guard phase == .polling else { return 0 }
        return published > received ? published - received : 0
    }
}

@available(*, unavailable)
extension PollClientHandler: Sendable {}

/// Short names for errors, for the counts by kind.
enum BenchErrorKind {
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return "I/O error: \(io.description)" }
        if error is HTTPParserError { return "malformed HTTP response (\(error))" }
        if let connect = error as? NIOConnectionError {
            if let first = connect.connectionErrors.first { return "connect: \(describe(first.error))" }
            return "connect: \(connect)"
        }
        if error is ChannelError { return "channel: \(error)" }
        return "\(type(of: error)): \(error)"
    }
}
