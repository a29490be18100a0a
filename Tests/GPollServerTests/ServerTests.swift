import Foundation
import GPollCore
import GPollServer
import NIOCore
import NIOHTTP1
import Testing

@Suite("server: bounded input, limits, admin, TLS, shutdown")
struct ServerTests {
    @Test("over-long targets get 414 and close; the server serves new connections afterwards",
          arguments: [8193, 16 * 1024, 64 * 1024, 100 * 1024])
    func uriTooLong(length: Int) async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let prefix = "/poll?client-id="
            let target = prefix + String(repeating: "a", count: length - prefix.count)
            let response = try await connection.request(target)
            #expect(response.status == .uriTooLong)
            expectGPollHeaders(response)
            #expect(await connection.waitForClose())
            let fresh = try await server.connect()
            #expect(try await fresh.request("/poll?client-id=0").status == .ok)
            await fresh.close()
        }
    }

    @Test("a target of exactly 8192 bytes is still served")
    func longestTarget() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let prefix = "/poll?x="
            let target = prefix + String(repeating: "a", count: 8192 - prefix.count)
            #expect(try await connection.request(target).status == .ok)
            await connection.close()
        }
    }

    @Test("malformed HTTP gets 400 and close; the server serves new connections afterwards",
          arguments: ["GARBAGE\r\n\r\n", "GET /poll HTTP/1.1\r\nBad Header\r\n\r\n", "GET /poll HTTP/9.9\r\n\r\n"])
    func malformed(request: String) async throws {
        try await withServer { server in
            let waiting = try await server.connect()
            let id = try await server.handshake(waiting)
            let pending = waiting.send(server.pollTarget(id))
            try await waitUntil("a poll waits") { server.endpoint.waitingPollCount == 1 }

            let connection = try await server.connect()
            let response = try await connection.sendRaw(Array(request.utf8))[0].get()
            #expect(response.status == .badRequest)
            expectGPollHeaders(response)
            #expect(await connection.waitForClose())

            // Everyone else is still served.
            try await server.publish("still here")
            #expect(try await pending.get().text == "still here")
            let fresh = try await server.connect()
            #expect(try await fresh.request("/poll?client-id=0").status == .ok)
            await fresh.close()
            await waiting.close()
        }
    }

    @Test("at the client limit a handshake gets 503 with Retry-After")
    func clientLimit() async throws {
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(maxClients: 2))]) { server in
            let connection = try await server.connect()
            _ = try await server.handshake(connection)
            _ = try await server.handshake(connection)
            let refused = try await connection.request("/poll?client-id=0")
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers.value("retry-after") == "1")
            expectGPollHeaders(refused)
            #expect(server.endpoint.statistics.refusedHandshakes == 1)
            await connection.close()
        }
    }

    @Test("admin listener: 404 unknown endpoint, 405 wrong method, 413 too large, stats JSON")
    func adminErrors() async throws {
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration()), ("/b", BroadcasterConfiguration())], maximumMessageBytes: 16) { server in
            let admin = try await server.connectAdmin()
            #expect(try await admin.request("/publish/nope", method: .POST, body: [1]).status == .notFound)
            #expect(try await admin.request("/elsewhere", method: .POST, body: [1]).status == .notFound)
            let get = try await admin.request("/publish")
            #expect(get.status == .methodNotAllowed)
            #expect(get.headers.value("allow") == "POST")
            #expect(try await admin.request("/publish/b", method: .PUT, body: [1]).status == .methodNotAllowed)
            #expect(try await admin.request("/publish", method: .POST, body: Array(repeating: 1, count: 17)).status == .payloadTooLarge)
            #expect(try await admin.request("/publish", method: .POST, body: Array(repeating: 1, count: 16)).status == .noContent)
            #expect(try await admin.request("/publish/b", method: .POST, body: []).status == .noContent)

            let connection = try await server.connect()
            _ = try await server.handshake(connection)
            let stats = try await admin.request("/stats")
            #expect(stats.status == .ok)
            #expect(stats.headers.value("content-type") == "application/json")
            let json = try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Any]
            let endpoints = json?["endpoints"] as? [[String: Any]]
            #expect(endpoints?.count == 2)
            #expect(endpoints?.first?["path"] as? String == "/poll")
            #expect(endpoints?.first?["clients"] as? Int == 1)
            let statistics = endpoints?.first?["statistics"] as? [String: Any]
            #expect(statistics?["publishedMessages"] as? Int == 1)
            // The gpoll listener never publishes.
            #expect(try await connection.request("/publish", method: .POST, body: [1]).status == .notFound)
            await connection.close()
            await admin.close()
        }
    }

    @Test("TLS with a certificate made at test time")
    func tls() async throws {
        try await withServer(tls: true) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let pending = connection.send(server.pollTarget(id))
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            try await server.publish("over tls")
            let response = try await pending.get()
            #expect(response.text == "over tls")
            expectGPollHeaders(response)
            await connection.close()
        }
    }

    @Test("graceful shutdown answers waiting polls 204 and finishes within 5 s")
    func gracefulShutdown() async throws {
        let endpoint = try GPollEndpoint(path: "/poll", configuration: BroadcasterConfiguration(pollTimeout: nil))
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0)),
            endpoints: [endpoint]
        )
        try await server.start()
        let port = try #require(server.port)
        var pending: [PendingResponse] = []
        var connections: [TestConnection] = []
        for _ in 0..<20 {
            let connection = try await TestConnection.connect(port: port)
            let response = try await connection.request("/poll?client-id=0")
            let id = try HandshakeBody.decode(response.body).get()
            pending.append(connection.send("/poll?client-id=\(id)"))
            connections.append(connection)
        }
        let idle = try await TestConnection.connect(port: port)
        try await waitUntil("all polls wait") { endpoint.waitingPollCount == 20 }

        let started = ContinuousClock.now
        await server.shutdown()
        // Under T (30 s): the polls were answered by the shutdown, not by their timeout.
        #expect(ContinuousClock.now - started < .seconds(25))
        for future in pending {
            let response = try await future.get()
            #expect(response.status == .noContent)
            expectGPollHeaders(response)
        }
        for connection in connections { #expect(await connection.waitForClose()) }
        #expect(await idle.waitForClose())
        await #expect(throws: (any Error).self) { try await TestConnection.connect(port: port) }
    }

    @Test("graceful shutdown closes a stuck connection after the grace period")
    func shutdownGracePeriod() async throws {
        let endpoint = try GPollEndpoint(path: "/poll")
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0), shutdownGracePeriod: .milliseconds(300)),
            endpoints: [endpoint]
        )
        try await server.start()
        // A request whose head never ends keeps its connection busy.
        let stuck = try await TestConnection.connect(port: try #require(server.port))
        _ = stuck.sendRaw(Array("GET /poll?client-id=0 HTTP/1.1\r\nHost: a\r\n".utf8))
        try await Task.sleep(for: .milliseconds(50))  // let the partial head arrive; there is no event to wait on
        let started = ContinuousClock.now
        await server.shutdown()
        // Under the default grace period (5 s): the configured 300 ms was used.
        #expect(ContinuousClock.now - started < .milliseconds(4500))
        #expect(await stuck.waitForClose())
    }

    @Test("HTTP/1.0: closed after the response unless keep-alive is asked for, and then said")
    func http10() async throws {
        try await withServer { server in
            let keep = try await server.connect()
            let kept = try await keep.sendRaw(Array("GET /poll?client-id=0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))[0].get()
            #expect(kept.status == .ok)
            #expect(kept.headers.value("connection")?.lowercased() == "keep-alive")
            #expect(try await keep.sendRaw(Array("GET /poll?client-id=0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))[0].get().status == .ok)
            await keep.close()

            let once = try await server.connect()
            let response = try await once.sendRaw(Array("GET /poll?client-id=0 HTTP/1.0\r\n\r\n".utf8))[0].get()
            #expect(response.status == .ok)
            #expect(response.headers.value("connection")?.lowercased() == "close")
            #expect(await once.waitForClose())
        }
    }

    @Test("idle expiry evicts a client with no poll in flight, never one whose poll waits")
    func idleExpiry() async throws {
        // E is long enough that a busy machine (the 1,000-client test and the stress
        // tier run in parallel) cannot stall between the handshake and the poll for that
        // long (1 s was seen to), and short enough to expire within waitUntil's 10 s.
        let configuration = BroadcasterConfiguration(pollTimeout: nil, idleExpiry: .seconds(3))
        try await withServer(endpoints: [("/poll", configuration)]) { server in
            let connection = try await server.connect()
            let waiter = try await server.connect()
            // The polling client's poll waits before the idle client even exists, so
            // only the idle one can reach its expiry, however slow this machine is.
            let polling = try await server.handshake(waiter)
            let pending = waiter.send(server.pollTarget(polling))
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            let idle = try await server.handshake(connection)
            try await waitUntil("the idle client is evicted") { server.endpoint.clientCount == 1 }
            #expect(server.endpoint.statistics.idleEvictions == 1)
            #expect(try await connection.request(server.pollTarget(idle)).status == .notFound)
            try await server.publish("kept")
            #expect(try await pending.get().text == "kept")
            await connection.close()
            await waiter.close()
        }
    }

    @Test("Expect: 100-continue is answered, so a publish body arrives without delay")
    func expectContinue() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let admin = try await server.connectAdmin()
            // Send only the head: the body follows once 100 Continue arrived.
            let body = [UInt8](repeating: 0x62, count: 2000)
            let responses = admin.sendRaw(Array("POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n".utf8), responses: 2)
            let interim = try await responses[0].get()
            #expect(interim.status == .continue)
            _ = admin.sendRaw(body, responses: 0)
            #expect(try await responses[1].get().status == .noContent)
            #expect(try await connection.request(server.pollTarget(id)).body == body)
            await admin.close()
            await connection.close()
        }
    }
}
