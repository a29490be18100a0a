import GPollCore
@testable import GPollServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing

/// The poll dispatcher: each router (and so each server) routes its endpoints'
/// answers to its own connections only, and an answer whose connection is gone
/// is written nowhere.
@Suite("Poll dispatcher")
struct PollDispatcherTests {
    /// No poll timeout: the endpoint's timer runs on another thread, and must not
    /// answer a poll of an EmbeddedChannel (whose loop is this test's thread).
    static let configuration = BroadcasterConfiguration(pollTimeout: nil)

    /// A connected EmbeddedChannel on `loop` serving `router`.
    static func channel(_ router: GPollRouter, on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(GPollHTTPHandler(router: router))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Handshakes on `channel` at `path` and starts a poll there; returns the client's id.
    static func handshakeAndPoll(_ path: String, on channel: EmbeddedChannel) throws -> ClientID {
        try ConnectionStateMachineTests.request("\(path)?client-id=0", to: channel)
        let handshake = try #require(try ConnectionStateMachineTests.response(from: channel))
        let id = try HandshakeBody.decode(Array(handshake.body.utf8)).get()
        try ConnectionStateMachineTests.request("\(path)?client-id=\(id)", to: channel)
        return id
    }

    @Test("A router's dispatcher has one registry per loop of its group, in the group's order")
    func oneRegistryPerLoop() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let router = try GPollRouter([try GPollEndpoint(path: "/poll")], eventLoopGroup: group)
        #expect(router.dispatcher.registries.map(\.index) == [0, 1])
        #expect(router.dispatcher.registry(for: loops[1]) === router.dispatcher.registries[1])
        #expect(router.dispatcher.registry(for: loops[0]) === router.dispatcher.registries[0])
        #expect(router.dispatcher.registry(for: EmbeddedEventLoop()) == nil)
        // A token names its loop and its connection's slot.
        let token = PollTokenLayout.token(loop: 1, slot: 5, serial: .max)
        #expect(PollTokenLayout.loopIndex(of: token) == 1 && PollTokenLayout.slot(of: token) == 5)
    }

    @Test("Two routers in one process, with tokens of the same bits, each answer only their own connections")
    func routersDoNotShare() throws {
        let (loopA, loopB) = (EmbeddedEventLoop(), EmbeddedEventLoop())
        let endpointA = try GPollEndpoint(path: "/poll", configuration: Self.configuration)
        let endpointB = try GPollEndpoint(path: "/poll", configuration: Self.configuration)
        let routerA = try GPollRouter([endpointA], eventLoopGroup: loopA)
        let routerB = try GPollRouter([endpointB], eventLoopGroup: loopB)
        let channelA = try Self.channel(routerA, on: loopA)
        let channelB = try Self.channel(routerB, on: loopB)
        _ = try Self.handshakeAndPoll("/poll", on: channelA)
        _ = try Self.handshakeAndPoll("/poll", on: channelB)
        #expect(endpointA.waitingPollCount == 1 && endpointB.waitingPollCount == 1)

        // Both polls are the first of the first connection of loop 0 of their
        // dispatcher: the same token, told apart only by whose dispatcher it is in.
        endpointA.send(Array("for A".utf8))
        loopA.run()
        loopB.run()
        #expect(try ConnectionStateMachineTests.response(from: channelA)?.body == "for A")
        #expect(try channelB.readOutbound(as: HTTPServerResponsePart.self) == nil, "B's connection answered by A's endpoint")
        #expect(endpointB.waitingPollCount == 1)

        endpointB.send(Array("for B".utf8))
        loopA.run()
        loopB.run()
        #expect(try ConnectionStateMachineTests.response(from: channelB)?.body == "for B")
        #expect(try channelA.readOutbound(as: HTTPServerResponsePart.self) == nil)
        _ = try channelA.finish()
        _ = try channelB.finish()
    }

    @Test("An answer for a poll whose connection closed is not written to the connection that took its slot; the message goes back")
    func lateAnswerForClosedConnection() throws {
        let loop = EmbeddedEventLoop()
        let endpoint = try GPollEndpoint(path: "/poll", configuration: Self.configuration)
        let router = try GPollRouter([endpoint], eventLoopGroup: loop)
        let first = try Self.channel(router, on: loop)
        let gone = try Self.handshakeAndPoll("/poll", on: first)

        // The publish hands the message to the waiting poll; its batch waits for the loop.
        #expect(endpoint.send(Array("m".utf8)).delivered == 1)
        // Before the loop runs it, the connection closes and a new one takes its slot
        // (the only free one) and polls for another client.
        first.close(promise: nil)
        let second = try Self.channel(router, on: loop)
        let other = try Self.handshakeAndPoll("/poll", on: second)
        #expect(endpoint.waitingPollCount == 1)

        loop.run()
        #expect(try second.readOutbound(as: HTTPServerResponsePart.self) == nil, "the closed connection's answer went to the new one")
        #expect(endpoint.waitingPollCount == 1, "the new connection's poll ended")
        #expect(endpoint.queuedMessageCount(of: gone) == 1, "the message did not go back to its client")
        #expect(endpoint.queuedMessageCount(of: other) == 0)

        endpoint.send(Array("n".utf8))
        loop.run()
        #expect(try ConnectionStateMachineTests.response(from: second)?.body == "n")
        _ = try second.finish()
    }

    @Test("An answer for a poll whose connection closed and whose slot is free is dropped; the message goes back")
    func lateAnswerForFreeSlot() throws {
        let loop = EmbeddedEventLoop()
        let endpoint = try GPollEndpoint(path: "/poll", configuration: Self.configuration)
        let router = try GPollRouter([endpoint], eventLoopGroup: loop)
        let channel = try Self.channel(router, on: loop)
        let id = try Self.handshakeAndPoll("/poll", on: channel)
        endpoint.send(Array("m".utf8))
        channel.close(promise: nil)
        loop.run()
        #expect(endpoint.queuedMessageCount(of: id) == 1)
    }

    @Test("An endpoint is served by one router at a time, and is free again once that router is gone")
    func oneRouterPerEndpoint() throws {
        let endpoint = try GPollEndpoint(path: "/poll")
        let other = try GPollEndpoint(path: "/other")
        var first: GPollRouter? = try GPollRouter([endpoint])
        #expect(throws: GPollConfigurationError.self) { try GPollRouter([other, endpoint]) }
        // The refused router bound nothing: `other` can be served elsewhere.
        let second = try GPollRouter([other])
        #expect(second.endpoints.count == 1)
        #expect(first?.endpoints.count == 1)
        first = nil
        #expect(try GPollRouter([endpoint]).endpoints.count == 1)
    }

    @Test("Two GPollServers in one process on the same event loops: a publish answers only its own server's polls; an endpoint of one is refused by the other")
    func twoServers() async throws {
        try await withServer { first in
            try await withServer { second in
                #expect(throws: GPollConfigurationError.self) {
                    try GPollServer(configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0), endpoints: [first.endpoint])
                }
                let (a, b) = (try await first.connect(), try await second.connect())
                let (idA, idB) = (try await first.handshake(a), try await second.handshake(b))
                let pollA = a.send(first.pollTarget(idA))
                let pollB = b.send(second.pollTarget(idB))
                try await waitUntil("both polls wait") { first.endpoint.waitingPollCount == 1 && second.endpoint.waitingPollCount == 1 }
                first.endpoint.send(Array("first".utf8))
                #expect(try await pollA.get().text == "first")
                // Had the first publish reached this connection, its answer would be "first".
                second.endpoint.send(Array("second".utf8))
                #expect(try await pollB.get().text == "second")
                await a.close()
                await b.close()
            }
        }
    }
}
