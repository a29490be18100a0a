import Foundation
import GPollCore
import GPollServer
import NIOCore
import NIOHTTP1
import Testing

@Suite("gpoll protocol over real sockets")
struct ProtocolTests {
    @Test("handshake answers 200 with a JSON client id, application/json and no-store")
    func handshake() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            for target in ["/poll?client-id=0", "/poll", "/poll?client-id=", "/poll?client-id=123456789"] {
                let response = try await connection.request(target)
                #expect(response.status == .ok)
                #expect(response.headers.value("content-type") == "application/json")
                expectGPollHeaders(response)
                let id = try HandshakeBody.decode(response.body).get()
                // gpoll/1.1 (HS-6): client-id first, compact, then the advertised settings.
                #expect(response.text.hasPrefix(#"{"client-id":"\#(id)","#))
                #expect(response.body == HandshakeBody.encode(id, advertising: server.endpoint.configuration.advertisement))
            }
            // Any method is accepted on an endpoint path, and a body is ignored.
            let post = try await connection.request("/poll?client-id=0", method: .POST, body: Array("ignored".utf8))
            #expect(post.status == .ok)
            #expect(server.endpoint.clientCount == 5)
            await connection.close()
        }
    }

    @Test("HEAD is refused with 405 and takes no message (Spec TR-4)")
    func headTakesNothing() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            try await server.publish("kept")
            let head = try await connection.request(server.pollTarget(id), method: .HEAD)
            #expect(head.status == .methodNotAllowed)
            #expect(head.headers.value("allow") == "GET")
            expectGPollHeaders(head)
            #expect(server.endpoint.queuedMessageCount(of: id) == 1)
            let get = try await connection.request(server.pollTarget(id))
            #expect(get.text == "kept")
            await connection.close()
        }
    }

    @Test("a poll delivers the exact bytes: empty, binary, 64 KiB", arguments: [0, 1, 256, 65536])
    func exactBytes(size: Int) async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let message: [UInt8] = size == 256 ? Array(0...255) : (0..<size).map { _ in UInt8.random(in: 0...255) }
            #expect(try await server.publish(message).status == .noContent)
            let response = try await connection.request(server.pollTarget(id))
            #expect(response.status == .ok)
            #expect(response.headers.value("content-type") == "application/octet-stream")
            expectGPollHeaders(response)
            #expect(response.body == message)

            // The same through a poll that already waits when the message arrives.
            let pending = connection.send(server.pollTarget(id))
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            server.endpoint.send(message)
            let waited = try await pending.get()
            #expect(waited.status == .ok)
            #expect(waited.body == message)
            expectGPollHeaders(waited)
            await connection.close()
        }
    }

    @Test("`$` may be sent raw or as %24; an invalid escape is 400")
    func percentEncoding() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            try await server.publish("a")
            try await server.publish("b")
            let escaped = "/poll?client-id=" + id.description.replacingOccurrences(of: "$", with: "%24")
            #expect(try await connection.request(escaped).text == "a")
            #expect(try await connection.request(server.pollTarget(id)).text == "b")
            let bad = try await connection.request("/poll?client-id=0%2")
            #expect(bad.status == .badRequest)
            expectGPollHeaders(bad)
            await connection.close()
        }
    }

    @Test("every 404 rule answers 404 with an empty body and changes nothing")
    func notFoundRules() async throws {
        let small = BroadcasterConfiguration(clientBufferCapacity: 1)
        try await withServer(endpoints: [("/poll", small), ("/other", small)]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let text = id.description
            let uuid = String(text.split(separator: "$")[1])
            let otherID = try await server.handshake(connection, path: "/other")
            let evicted = try await server.handshake(connection)
            // Evict `evicted`: B = 1 queued, the next one evicts. Keep `id` alive by draining it.
            try await server.publish("one")
            #expect(try await connection.request(server.pollTarget(id)).text == "one")
            try await server.publish("two")
            #expect(try await connection.request(server.pollTarget(id)).text == "two")
            #expect(server.endpoint.queuedMessageCount(of: evicted) == nil)

            let unknownUUID = "4b2f6e0c-1d3a-4f5e-8a7b-9c0d1e2f3a4b"
            let cases: [(String, String)] = [
                ("no $ and 10 bytes", "abcdefghij"),
                ("no $ and long", "0123456789abcdef"),
                ("unknown uuid", "0$\(unknownUUID)"),
                ("uppercase", text.uppercased()),
                ("another routine's prefix", "1$\(uuid)"),
                ("leading zero prefix", "00$\(uuid)"),
                ("non-digit prefix", "a$\(uuid)"),
                ("empty prefix", "$\(uuid)"),
                ("second $", "\(text)$"),
                ("second $ with text", "\(text)$x"),
                ("trailing text", "\(text)x"),
                ("evicted", evicted.description),
                ("other endpoint's id", otherID.description),
            ]
            for (name, value) in cases {
                let encoded = value.replacingOccurrences(of: "$", with: "%24")
                let response = try await connection.request("/poll?client-id=\(encoded)")
                #expect(response.status == .notFound, "\(name)")
                #expect(response.body.isEmpty, "\(name)")
                expectGPollHeaders(response)
            }
            // Nothing changed: the live client still gets the next message.
            try await server.publish("three")
            #expect(try await connection.request(server.pollTarget(id)).text == "three")
            let unknownPath = try await connection.request("/nope?client-id=0")
            #expect(unknownPath.status == .notFound)
            expectGPollHeaders(unknownPath)
            await connection.close()
        }
    }

    @Test("many messages arrive in publish order, each exactly once")
    func orderAndExactlyOnce() async throws {
        let configuration = BroadcasterConfiguration(clientBufferCapacity: 500, pollTimeout: .milliseconds(300))
        try await withServer(endpoints: [("/poll", configuration)]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let count = 300
            for index in 0..<count { server.endpoint.send(Array("m\(index)".utf8)) }
            for index in 0..<count {
                let response = try await connection.request(server.pollTarget(id))
                #expect(response.text == "m\(index)")
            }
            // Nothing is left and nothing is repeated: the next poll times out.
            #expect(try await connection.request(server.pollTarget(id)).status == .noContent)
            await connection.close()
        }
    }

    @Test("B queued messages are all delivered; message B+1 evicts")
    func evictionAtBPlusOne() async throws {
        let b = 5
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(clientBufferCapacity: b))]) { server in
            let connection = try await server.connect()
            let kept = try await server.handshake(connection)
            for index in 0..<b { try await server.publish("m\(index)") }
            #expect(server.endpoint.queuedMessageCount(of: kept) == b)
            for index in 0..<b { #expect(try await connection.request(server.pollTarget(kept)).text == "m\(index)") }

            let evicted = try await server.handshake(connection)
            for index in 0..<b { try await server.publish("n\(index)") }
            #expect(server.endpoint.queuedMessageCount(of: evicted) == b)
            try await server.publish("overflow")
            #expect(server.endpoint.queuedMessageCount(of: evicted) == nil)
            #expect(try await connection.request(server.pollTarget(evicted)).status == .notFound)
            #expect(server.endpoint.statistics.overflowEvictions >= 1)
            await connection.close()
        }
    }

    @Test("a client never receives a message published before its handshake")
    func nothingBeforeRegistration() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            try await server.publish("before")
            let id = try await server.handshake(connection)
            try await server.publish("after")
            #expect(try await connection.request(server.pollTarget(id)).text == "after")
            await connection.close()
        }
    }

    @Test("a poll with nothing to deliver ends with 204 after T and consumes nothing")
    func pollTimeout() async throws {
        let timeout = Duration.milliseconds(300)
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(pollTimeout: timeout))]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let started = ContinuousClock.now
            let response = try await connection.request(server.pollTarget(id))
            let waited = ContinuousClock.now - started
            #expect(response.status == .noContent)
            #expect(response.body.isEmpty)
            expectGPollHeaders(response)
            // Not before T. How soon after T is timing, which a loaded machine stretches
            // (3.4 s was seen for T = 0.3 s): a poll that never ends fails the request's
            // own 10 s deadline instead.
            #expect(waited >= timeout)
            try await server.publish("x")
            #expect(try await connection.request(server.pollTarget(id)).text == "x")
            await connection.close()
        }
    }

    enum Abort: String, CaseIterable, Sendable { case fin, rst }

    @Test("no message is lost when a waiting client disconnects", arguments: Abort.allCases)
    func noLossOnDisconnect(abort: Abort) async throws {
        try await withServer { server in
            let first = try await server.connect()
            let id = try await server.handshake(first)
            _ = first.send(server.pollTarget(id))
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            switch abort {
            case .fin: await first.close()
            case .rst: await first.reset()
            }
            try await waitUntil("the server saw the disconnect") { server.endpoint.waitingPollCount == 0 }
            try await server.publish("x")
            try await server.publish("y")
            let second = try await server.connect()
            #expect(try await second.request(server.pollTarget(id)).text == "x")
            #expect(try await second.request(server.pollTarget(id)).text == "y")
            await second.close()
        }
    }

    @Test("the newest poll wins: the older waiting poll gets 204")
    func newestPollWins() async throws {
        try await withServer { server in
            let first = try await server.connect()
            let second = try await server.connect()
            let id = try await server.handshake(first)
            let older = first.send(server.pollTarget(id))
            try await waitUntil("the first poll waits") { server.endpoint.waitingPollCount == 1 }
            let newer = second.send(server.pollTarget(id))
            let olderResponse = try await older.get()
            #expect(olderResponse.status == .noContent)
            expectGPollHeaders(olderResponse)
            try await waitUntil("the newer poll waits") { server.endpoint.waitingPollCount == 1 }
            try await server.publish("x")
            #expect(try await newer.get().text == "x")
            await first.close()
            await second.close()
        }
    }

    @Test("two endpoints have separate clients and messages")
    func twoEndpointsIsolated() async throws {
        let configuration = BroadcasterConfiguration(pollTimeout: .milliseconds(200))
        try await withServer(endpoints: [("/a", configuration), ("/chat/room", configuration)]) { server in
            let connection = try await server.connect()
            let a = try await server.handshake(connection, path: "/a")
            let room = try await server.handshake(connection, path: "/chat/room")
            #expect(try await connection.request(server.pollTarget(a, path: "/chat/room")).status == .notFound)
            #expect(try await connection.request(server.pollTarget(room, path: "/a")).status == .notFound)
            try await server.publish("for the room", to: "/publish/chat/room")
            try await server.publish("for a")  // /publish goes to the first endpoint
            #expect(try await connection.request(server.pollTarget(room, path: "/chat/room")).text == "for the room")
            #expect(try await connection.request(server.pollTarget(a, path: "/a")).text == "for a")
            #expect(try await connection.request(server.pollTarget(a, path: "/a")).status == .noContent)
            #expect(try await connection.request(server.pollTarget(room, path: "/chat/room")).status == .noContent)
            await connection.close()
        }
    }

    @Test("a client pipelining past the backlog behind its waiting poll loses the connection, and nothing else")
    func backlogIsBounded() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            var raw = "GET \(server.pollTarget(id)) HTTP/1.1\r\nHost: a\r\n\r\n"
            for _ in 0...GPollHTTPHandler.maximumBacklog { raw += "GET /poll?client-id=0 HTTP/1.1\r\nHost: a\r\n\r\n" }
            _ = connection.sendRaw(Array(raw.utf8), responses: 0)
            #expect(await connection.waitForClose())
            // None of the handshakes behind the poll ran, and the poll was withdrawn: the client lives on.
            #expect(server.endpoint.clientCount == 1)
            try await waitUntil("the poll is withdrawn") { server.endpoint.waitingPollCount == 0 }
            try await server.publish("kept")
            let again = try await server.connect()
            #expect(try await again.request(server.pollTarget(id)).text == "kept")
            await again.close()
        }
    }

    @Test("pipelined requests are answered in order on one connection")
    func pipelining() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            try await server.publish("x")
            let request = "GET \(server.pollTarget(id)) HTTP/1.1\r\nHost: a\r\n\r\nGET /poll?client-id=0 HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
            let responses = connection.sendRaw(Array(request.utf8), responses: 3)
            #expect(try await responses[0].get().text == "x")
            #expect(try await responses[1].get().status == .ok)
            #expect(try await responses[2].get().status == .notFound)

            // A request pipelined behind a waiting poll is answered after the poll, in order.
            let behind = "GET \(server.pollTarget(id)) HTTP/1.1\r\nHost: a\r\n\r\nGET /poll?client-id=0 HTTP/1.1\r\nHost: a\r\n\r\n"
            let queued = connection.sendRaw(Array(behind.utf8), responses: 2)
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            #expect(server.endpoint.clientCount == 2)  // the handshake behind the poll has not run yet
            try await server.publish("y")
            #expect(try await queued[0].get().text == "y")
            #expect(try await queued[1].get().status == .ok)
            #expect(server.endpoint.clientCount == 3)
            await connection.close()
        }
    }
}
