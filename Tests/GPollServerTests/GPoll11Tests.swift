import Foundation
import GPollCore
import GPollServer
import NIOCore
import NIOHTTP1
import Testing

/// gpoll/1.1 over real HTTP: advertised settings, acknowledged delivery, reasons,
/// and the headers of message answers.
@Suite("gpoll/1.1 features over HTTP")
struct GPoll11Tests {
    @Test("the handshake object begins with client-id and advertises the settings in force")
    func advertisedSettings() async throws {
        let configuration = BroadcasterConfiguration(clientBufferCapacity: 7, pollTimeout: .milliseconds(2500), idleExpiry: .seconds(300))
        try await withServer(endpoints: [("/poll", configuration)]) { server in
            let connection = try await server.connect()
            let response = try await connection.request("/poll?client-id=0")
            #expect(response.headers.value("content-type") == "application/json")
            let id = try HandshakeBody.decode(response.body).get()
            #expect(response.text == #"{"client-id":"\#(id)","gpoll":"1.1","poll-timeout":2.5,"client-buffer":7,"idle-expiry":300,"extensions":["ack"]}"#)
            await connection.close()
        }
        var plain = configuration
        plain.advertisesSettings = false
        plain.offersAcknowledgedDelivery = false
        try await withServer(endpoints: [("/poll", plain)]) { server in
            let connection = try await server.connect()
            let response = try await connection.request("/poll?client-id=0")
            let id = try HandshakeBody.decode(response.body).get()
            #expect(response.text == #"{"client-id":"\#(id)"}"#)
            await connection.close()
        }
    }

    @Test("GPoll-Sequence on every message answer; a repeated ack re-sends the same message; ack=n moves on")
    func acknowledgedDelivery() async throws {
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(clientBufferCapacity: 4))]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            for m in ["a", "b", "c"] { try await server.publish(m) }
            func poll(_ ack: Int?) async throws -> TestResponse {
                try await connection.request(server.pollTarget(id) + (ack.map { "&ack=\($0)" } ?? ""))
            }
            let first = try await poll(0)
            #expect(first.text == "a" && first.headers.value("GPoll-Sequence") == "1")
            let again = try await poll(0)
            #expect(again.text == "a" && again.headers.value("GPoll-Sequence") == "1")
            let second = try await poll(1)
            #expect(second.text == "b" && second.headers.value("GPoll-Sequence") == "2")
            // Without ack (a gpoll/1 poll) b is acknowledged and c handed out for good.
            let plain = try await poll(nil)
            #expect(plain.text == "c" && plain.headers.value("GPoll-Sequence") == "3")
            #expect(server.endpoint.queuedMessageCount(of: id) == 0)
            // A waiting poll with ack gets the next message with its sequence.
            let waiting = connection.send(server.pollTarget(id) + "&ack=3")
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            try await server.publish("d")
            let delivered = try await waiting.get()
            #expect(delivered.text == "d" && delivered.headers.value("GPoll-Sequence") == "4")
            await connection.close()
        }
    }

    @Test("a malformed ack, or one above the highest delivered, is 400 with GPoll-Reason: malformed; nothing moves")
    func badAck() async throws {
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(clientBufferCapacity: 4))]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            try await server.publish("a")
            for bad in ["1", "x", "", "-1", "123456789012345678901", "%zz", "99999999999999999999"] {
                let response = try await connection.request(server.pollTarget(id) + "&ack=\(bad)")
                #expect(response.status == .badRequest, "ack=\(bad)")
                #expect(response.headers.value("GPoll-Reason") == "malformed", "ack=\(bad)")
                expectGPollHeaders(response)
            }
            let response = try await connection.request(server.pollTarget(id) + "&ack=0")
            #expect(response.text == "a" && response.headers.value("GPoll-Sequence") == "1")
            await connection.close()
        }
    }

    @Test("a request HTTP cannot parse is 400 with GPoll-Reason: malformed")
    func unparsableRequest() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let response = try await connection.sendRaw(Array("GET /poll?client-id=0 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".utf8))[0].get()
            #expect(response.status == .badRequest)
            #expect(response.headers.value("GPoll-Reason") == "malformed")
            await connection.close()
        }
    }

    @Test("without the extension: ack is ignored and no GPoll-Sequence is sent")
    func ackOff() async throws {
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(offersAcknowledgedDelivery: false))]) { server in
            let connection = try await server.connect()
            let handshake = try await connection.request("/poll?client-id=0")
            #expect(handshake.text.hasSuffix(#""extensions":[]}"#))
            let id = try HandshakeBody.decode(handshake.body).get()
            try await server.publish("a")
            try await server.publish("b")
            let first = try await connection.request(server.pollTarget(id) + "&ack=0")
            let second = try await connection.request(server.pollTarget(id) + "&ack=zz")
            #expect(first.text == "a" && second.text == "b")
            #expect(first.headers.value("GPoll-Sequence") == nil)
            await connection.close()
        }
    }

    @Test("unacknowledged messages count against B: a client that never acknowledges is evicted at B")
    func unacknowledgedEvict() async throws {
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(clientBufferCapacity: 1))]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            try await server.publish("a")
            #expect(try await connection.request(server.pollTarget(id) + "&ack=0").text == "a")
            try await server.publish("b")  // holds a (unacknowledged) = B: this evicts
            let gone = try await connection.request(server.pollTarget(id) + "&ack=1")
            #expect(gone.status == .notFound)
            #expect(gone.headers.value("GPoll-Reason") == "evicted")
            await connection.close()
        }
    }

    @Test("GPoll-Reason: unknown for any value not exactly an issued id, expired for an idle-evicted id, malformed for a bad escape")
    func reasons() async throws {
        let configuration = BroadcasterConfiguration(pollTimeout: .seconds(30), idleExpiry: .milliseconds(200))
        try await withServer(endpoints: [("/poll", configuration)]) { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            try await waitUntil("the client expires") { server.endpoint.clientCount == 0 }
            var expired = try await connection.request(server.pollTarget(id))
            #expect(expired.status == .notFound && expired.headers.value("GPoll-Reason") == "expired")
            let wrongPrefix = ClientID(routine: id.routine + 1, uuid: id.uuid)
            let guesses = [wrongPrefix.description, "0$\(UUIDv4(randomHigh: 1, randomLow: 2))", "abcdefghijk",
                           id.description.uppercased(), id.description + "x", "0$" + id.uuid.description.dropLast()]
            for value in guesses {
                let response = try await connection.request("/poll?client-id=\(value)")
                #expect(response.status == .notFound, "\(value)")
                #expect(response.headers.value("GPoll-Reason") == "unknown", "\(value)")
            }
            let bad = try await connection.request("/poll?client-id=%zz")
            #expect(bad.status == .badRequest && bad.headers.value("GPoll-Reason") == "malformed")
            expired = try await connection.request(server.pollTarget(id, path: "/poll") + "&ack=0")
            #expect(expired.headers.value("GPoll-Reason") == "expired")
            await connection.close()
        }
    }

    @Test("message answers: octet-stream, nosniff, no Content-Encoding, Range ignored; HEAD is 405 with Allow: GET")
    func messageHeaders() async throws {
        try await withServer { server in
            let connection = try await server.connect()
            let id = try await server.handshake(connection)
            let html = "<html><script>alert(1)</script></html>"
            try await server.publish(html)
            let response = try await connection.request(
                server.pollTarget(id), headers: [("Range", "bytes=0-0"), ("Accept-Encoding", "gzip")])
            #expect(response.status == .ok && response.text == html)
            #expect(response.headers.value("content-type") == "application/octet-stream")
            #expect(response.headers.value("x-content-type-options") == "nosniff")
            #expect(response.headers.value("content-encoding") == nil)
            #expect(response.headers.value("content-range") == nil)
            let head = try await connection.request("/poll?client-id=0", method: .HEAD)
            #expect(head.status == .methodNotAllowed && head.headers.value("allow") == "GET")
            #expect(server.endpoint.clientCount == 1)
            await connection.close()
        }
    }
}
