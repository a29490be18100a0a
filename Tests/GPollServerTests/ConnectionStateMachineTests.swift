import GPollCore
@testable import GPollServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The connection state machine alone (no channel), then through GPollHTTPHandler
/// on an EmbeddedChannel.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    let endpoint: GPollEndpoint

    init() throws { endpoint = try GPollEndpoint(path: "/poll") }

    func poll(_ keepAlive: ConnectionReuse = .keepAlive) -> Machine.Head {
        .request(.gpoll(endpoint, target: "/poll?client-id=0", keepAlive: keepAlive))
    }

    func reject(_ keepAlive: ConnectionReuse = .keepAlive) -> Machine.Head {
        .request(.reject(.empty(.notFound), keepAlive: keepAlive))
    }

    /// The target of a served request, or "404" for a rejected one, nil for anything else.
    static func served(_ action: Machine.EndAction) -> String? {
        guard case .serve(let request, _) = action else { return nil }
        return name(request)
    }

    static func served(_ action: Machine.NextAction) -> String? {
        guard case .serve(let request, _) = action else { return nil }
        return name(request)
    }

    static func name(_ request: Machine.Request) -> String {
        switch request {
        case .gpoll(_, let target, _): return target
        case .reject(let response, _): return String(response.status.code)
        }
    }

    @Test("A request is served at its end; 100-continue only when no poll waits ahead of it")
    func servedAtEnd() {
        var machine = Machine()
        #expect(machine.headReceived(poll()) == .continueIfExpected)
        #expect(!machine.bodyReceived())
        #expect(Self.served(machine.endReceived()) == "/poll?client-id=0")
        machine.pollWaits(token: PollToken(1), endpoint: endpoint, keepAlive: .keepAlive)
        #expect(machine.headReceived(poll()) == .none)
        guard case .queued = machine.endReceived() else { Issue.record("not queued"); return }
        guard case .none = machine.endReceived() else { Issue.record("an end without a head did something"); return }
    }

    @Test("Pipelined requests behind a waiting poll are answered in order after it; one that waits stops the drain")
    func backlogInOrder() {
        var machine = Machine()
        _ = machine.headReceived(poll())
        _ = machine.endReceived()
        machine.pollWaits(token: PollToken(1), endpoint: endpoint, keepAlive: .keepAlive)
        _ = machine.headReceived(reject())
        _ = machine.endReceived()
        _ = machine.headReceived(poll())
        _ = machine.endReceived()
        _ = machine.headReceived(reject())
        _ = machine.endReceived()
        guard case .none = machine.nextAction() else { Issue.record("served while a poll waits"); return }
        guard case .answer(let answered, .keepAlive) = machine.pollAnswered(token: PollToken(1)) else {
            Issue.record("the waiting poll was not answered"); return
        }
        #expect(answered.token == PollToken(1))
        #expect(Self.served(machine.nextAction()) == "404")
        #expect(Self.served(machine.nextAction()) == "/poll?client-id=0")
        machine.pollWaits(token: PollToken(2), endpoint: endpoint, keepAlive: .keepAlive)
        guard case .none = machine.nextAction() else { Issue.record("drained past a waiting poll"); return }
        _ = machine.pollAnswered(token: PollToken(2))
        #expect(Self.served(machine.nextAction()) == "404")
        guard case .none = machine.nextAction() else { Issue.record("the backlog is not empty"); return }
    }

    @Test("More than maximumBacklog pipelined requests close the connection")
    func backlogOverflow() {
        var machine = Machine()
        machine.pollWaits(token: PollToken(1), endpoint: endpoint, keepAlive: .keepAlive)
        for _ in 0..<Machine.maximumBacklog {
            _ = machine.headReceived(reject())
            guard case .queued = machine.endReceived() else { Issue.record("not queued"); return }
        }
        _ = machine.headReceived(reject())
        guard case .close = machine.endReceived() else { Issue.record("request \(Machine.maximumBacklog + 1) did not close"); return }
    }

    @Test("Quiescing: an idle connection closes now; a waiting one closes after its answer, dropping its backlog")
    func quiescing() {
        var idle = Machine()
        guard case .close = idle.quiesce() else { Issue.record("an idle connection stayed open"); return }

        var busy = Machine()
        busy.pollWaits(token: PollToken(7), endpoint: endpoint, keepAlive: .keepAlive)
        _ = busy.headReceived(reject())
        _ = busy.endReceived()
        guard case .none = busy.quiesce() else { Issue.record("closed while a poll waits"); return }
        #expect(busy.isQuiescing)
        guard case .answer(_, .close) = busy.pollAnswered(token: PollToken(7)) else { Issue.record("the answer keeps the connection"); return }
        guard case .close = busy.nextAction() else { Issue.record("not closed after the last answer"); return }

        // A request that arrives while quiescing is answered with close.
        var late = Machine()
        _ = late.quiesce()
        _ = late.headReceived(poll())
        guard case .serve(_, .close) = late.endReceived() else { Issue.record("served with keep-alive while quiescing"); return }
    }

    @Test("An answer for another token is stale; the connection's end hands back its waiting poll once")
    func staleAndEnded() {
        var machine = Machine()
        guard case .stale = machine.pollAnswered(token: PollToken(1)) else { Issue.record("answered with nothing waiting"); return }
        machine.pollWaits(token: PollToken(2), endpoint: endpoint, keepAlive: .keepAlive)
        guard case .stale = machine.pollAnswered(token: PollToken(1)) else { Issue.record("answered the wrong poll"); return }
        #expect(machine.connectionEnded()?.token == PollToken(2))
        #expect(machine.connectionEnded() == nil)
    }

    // MARK: Through the handler, on an EmbeddedChannel

    func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let router = try GPollRouter([endpoint], eventLoopGroup: channel.embeddedEventLoop)
        try channel.pipeline.syncOperations.addHandler(GPollHTTPHandler(router: router))
        // Connected, so active: a message is written only to an active channel.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func request(_ target: String, method: HTTPMethod = .GET, to channel: EmbeddedChannel) throws {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "h")
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    /// The next whole response written: status and body.
    static func response(from channel: EmbeddedChannel) throws -> (status: UInt, body: String)? {
        guard case .head(let head)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else { return nil }
        var body = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .body(.byteBuffer(let buffer)): body += String(buffer: buffer)
            case .body: break
            case .end: return (head.status.code, body)
            case .head: Issue.record("a head inside a response")
            }
        }
        Issue.record("a response without its end")
        return nil
    }

    @Test("EmbeddedChannel: handshake, a waiting poll, a request pipelined behind it, answered in order by a publish")
    func embeddedPipelining() throws {
        let channel = try makeChannel()
        try Self.request("/poll?client-id=0", to: channel)
        let handshake = try #require(try Self.response(from: channel))
        #expect(handshake.status == 200)
        let id = try HandshakeBody.decode(Array(handshake.body.utf8)).get()
        try Self.request("/poll?client-id=\(id)", to: channel)
        try Self.request("/elsewhere", to: channel)
        #expect(try channel.readOutbound(as: HTTPServerResponsePart.self) == nil, "answered while the poll waits")
        #expect(endpoint.waitingPollCount == 1)
        endpoint.send(Array("hello".utf8))
        channel.embeddedEventLoop.run()
        let message = try #require(try Self.response(from: channel))
        #expect(message.status == 200 && message.body == "hello")
        let behind = try #require(try Self.response(from: channel))
        #expect(behind.status == 404)
        _ = try channel.finish()
    }

    @Test("EmbeddedChannel: quiescing answers the waiting poll 204 at shutdown, then closes")
    func embeddedQuiesce() throws {
        let channel = try makeChannel()
        try Self.request("/poll?client-id=0", to: channel)
        let id = try HandshakeBody.decode(Array(try #require(try Self.response(from: channel)).body.utf8)).get()
        try Self.request("/poll?client-id=\(id)", to: channel)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(channel.isActive, "closed while a poll waits")
        endpoint.beginShutdown()
        channel.embeddedEventLoop.run()
        let answer = try #require(try Self.response(from: channel))
        #expect(answer.status == 204)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive, "still open after its last answer while quiescing")
    }

    @Test("EmbeddedChannel: a closed connection withdraws its waiting poll, which then takes no message")
    func embeddedWithdraw() throws {
        let channel = try makeChannel()
        try Self.request("/poll?client-id=0", to: channel)
        let id = try HandshakeBody.decode(Array(try #require(try Self.response(from: channel)).body.utf8)).get()
        try Self.request("/poll?client-id=\(id)", to: channel)
        #expect(endpoint.waitingPollCount == 1)
        _ = try channel.finish()
        #expect(endpoint.waitingPollCount == 0)
        endpoint.send(Array("kept".utf8))
        #expect(endpoint.queuedMessageCount(of: id) == 1)
    }
}
