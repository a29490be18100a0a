import Foundation
import GPollCore
import NIOHTTP1
import Synchronization
import Testing
@testable import GPollClient

/// GPollClient against a scripted server that misbehaves on purpose. Every timing
/// check is a lower bound read from the server's record of requests ("no request
/// before the wait was over"), never a bound on how fast this machine is.
@Suite("GPollClient against a scripted server")
struct ScriptedServerTests {
    static let id = "0$11111111-2222-4333-8444-555555555555"

    /// A fast backoff, within the Spec's bounds, so that tests of failures take little time.
    static var fastBackoff: GPollClientConfiguration {
        var configuration = GPollClientConfiguration()
        configuration.backoff = .init(base: .milliseconds(100), cap: .seconds(10))
        return configuration
    }

    @Test("204 at once: polls again at once, and after the second early 204 registers again (CL-12)")
    func early204s() async throws {
        let server = try await ScriptedServer { request, index in
            // T = 30 s advertised: "early" is then anything under 29 s, so a loaded machine
            // (where a 204's round trip took over a second) cannot make it a normal 204.
            request.isHandshake ? .handshake(index == 0 ? #"{"client-id":"0$11111111-2222-4333-8444-555555555555","poll-timeout":30}"# : #"{"client-id":"0$22222222-2222-4333-8444-555555555555","poll-timeout":30}"#)
                : request.clientID == Self.id ? .respond(status: .noContent) : .hold
        }
        let client = try GPollClient(endpoint: server.url)
        let events = try await collect(client, until: { $0.count == 2 })
        await client.close()
        await server.stop()

        guard case .registeredAgain(let registration, .idHeldElsewhere) = events[1] else { Issue.record("\(events)"); return }
        #expect(registration.id == "0$22222222-2222-4333-8444-555555555555")
        let requests = server.requests
        #expect(requests.map(\.clientID) == ["0", Self.id, Self.id, "0"])
        #expect(requests.allSatisfy { $0.method == .GET })  // CL-1
        // The id's `$` went as %24 (CL-7), and the handshake as client-id=0 (CL-3).
        #expect(requests[0].uri == "/poll?client-id=0")
        #expect(requests[1].uri == "/poll?client-id=0%2411111111-2222-4333-8444-555555555555")
    }

    @Test("503 with Retry-After: no request before the delay has passed, in seconds and as an HTTP-date (CL-17)")
    func retryAfter() async throws {
        let dateFormatter = DateFormatter()
        dateFormatter.locale = Locale(identifier: "en_US_POSIX")
        dateFormatter.timeZone = TimeZone(identifier: "GMT")
        dateFormatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let retryDate = Mutex<Date?>(nil)
        let server = try await ScriptedServer { request, index in
            switch index {
            case 0: return .respond(status: .serviceUnavailable, headers: [("Retry-After", "1")])
            case 1: return .handshake()
            case 2:
                // Two whole seconds ahead, so that the date is at least one second away.
                let date = Date(timeIntervalSince1970: (request.wallClock.timeIntervalSince1970 + 2).rounded(.down))
                retryDate.withLock { $0 = date }
                return .respond(status: .serviceUnavailable, headers: [("Retry-After", dateFormatter.string(from: date))])
            default: return .ok("after the wait", headers: [("GPoll-Sequence", "1")])
            }
        }
        let client = try GPollClient(endpoint: server.url)
        let events = try await collect(client, until: { $0.contains { $0.messageText != nil } })
        await client.close()
        await server.stop()

        let requests = server.requests
        try #require(requests.count >= 4)
        #expect(requests[0].arrival.duration(to: requests[1].arrival) >= .seconds(1), "the handshake was repeated before Retry-After: 1 had passed")
        let date = try #require(retryDate.withLock { $0 })
        #expect(requests[3].wallClock >= date, "the poll was repeated before the Retry-After date")
        #expect(requests[3].clientID == Self.id)  // after a 503 to a poll, the same id is polled again
        let waits = events.compactMap { event -> GPollBackoffReason? in
            if case .backingOff(let reason, _) = event { return reason }
            return nil
        }
        #expect(waits == [.retryAfter(HTTPStatusLine(code: 503, reasonPhrase: "Service Unavailable")),
                          .retryAfter(HTTPStatusLine(code: 503, reasonPhrase: "Service Unavailable"))])
    }

    @Test("5xx: jittered exponential backoff within the bounds, with no request before each announced delay (CL-16)")
    func backoffOn5xx() async throws {
        let failures = 6
        let server = try await ScriptedServer { _, index in
            index < failures ? .respond(status: index % 2 == 0 ? .internalServerError : .serviceUnavailable) : .handshake()
        }
        let client = try GPollClient(endpoint: server.url, configuration: Self.fastBackoff)
        let events = try await collect(client, until: { events in events.contains { if case .registered = $0 { true } else { false } } })
        await client.close()
        await server.stop()

        let delays = events.compactMap { event -> Duration? in
            if case .backingOff(.status, let delay) = event { return delay }
            return nil
        }
        #expect(delays.count == failures)
        let requests = server.requests
        for (n, delay) in delays.enumerated() {
            let ceiling = min(Duration.seconds(10), Duration.milliseconds(100) * (1 << n))
            #expect(delay >= .zero && delay <= ceiling, "delay \(n + 1): \(delay) above \(ceiling)")
            #expect(requests[n].arrival.duration(to: requests[n + 1].arrival) >= delay, "request \(n + 2) came before its backoff delay")
        }
        #expect(Set(delays).count > 1, "the delays are jittered")
    }

    @Test("connection refused: backoff with growing ceilings, and --give-up-after's limit ends the sequence with an error")
    func connectionRefused() async throws {
        // Port 1: nothing listens there, and no test's server can take it (port 0 only
        // gives ephemeral ports). A port that was just free could be, and was once, taken
        // by another test's server before the client connected.
        let url = "http://127.0.0.1:1/poll"
        var configuration = Self.fastBackoff
        configuration.maximumConsecutiveFailures = 4
        let client = try GPollClient(endpoint: url, configuration: configuration)
        var events: [GPollEvent] = []
        await #expect(throws: GPollClientError.self) {
            for try await event in client.events() { events.append(event) }
        }
        await client.close()
        #expect(events.count == 3)
        for event in events {
            guard case .backingOff(.unreachable(let detail), _) = event else { Issue.record("\(event)"); continue }
            #expect(detail.contains("refused"), "\(detail)")
        }
    }

    @Test("a handshake object with whitespace, other members and escapes: the decoded id is polled, percent-encoded (CL-4, CL-5, CL-6)")
    func unusualHandshake() async throws {
        let body = " {\r\n  \"gpoll\" : \"1.1\",\n  \"future\": {\"client-id\": 1, \"list\": [true, null]},\n  \"extensions\": [\"x-new\"],\n  \"client-id\" : \"7$ab\\u0063 d+e\\/f~\"\n}\n"
        let server = try await ScriptedServer { request, _ in
            request.isHandshake ? .respond(status: .ok, headers: [("Content-Type", "text/plain")], body: Array(body.utf8)) : .ok("m")
        }
        let client = try GPollClient(endpoint: server.url)
        let events = try await collect(client, until: { $0.count == 2 })
        await client.close()
        await server.stop()

        guard case .registered(let registration) = events[0] else { Issue.record("\(events)"); return }
        #expect(registration.id == "7$abc d+e/f~")
        #expect(!registration.usesAcknowledgedDelivery)  // `ack` not offered: unknown extensions are ignored
        let poll = server.requests[1]
        #expect(poll.uri == "/poll?client-id=7%24abc%20d%2Be%2Ff~")
        #expect(poll.clientID == "7$abc d+e/f~")
        #expect(events[1].messageText == "m")
    }

    @Test("a connection dropped mid-poll: polled again at once with the same id; a second drop in a row backs off (CL-20)")
    func droppedConnection() async throws {
        let server = try await ScriptedServer { request, index in
            if request.isHandshake { return .handshake() }
            switch index {
            case 1: return .dropAfter(.milliseconds(50))
            case 2: return .ok("after one drop")
            case 3, 4: return .dropAfter(.milliseconds(50))
            default: return .ok("after two drops")
            }
        }
        let client = try GPollClient(endpoint: server.url, configuration: Self.fastBackoff)
        let events = try await collect(client, until: { $0.filter { $0.messageText != nil }.count == 2 })
        await client.close()
        await server.stop()

        #expect(events.count == 4, "\(events)")
        #expect(events.compactMap(\.messageText) == ["after one drop", "after two drops"])
        guard case .backingOff(.connectionLost, _) = events[2] else { Issue.record("\(events)"); return }
        #expect(server.requests.dropFirst().allSatisfy { $0.clientID == Self.id })
    }

    @Test("a slow answer: one poll in flight, no half-close, no second connection meanwhile (CL-2, CL-9)")
    func slowAnswer() async throws {
        let server = try await ScriptedServer { request, _ in
            request.isHandshake ? .handshake() : .respondAfter(.milliseconds(1500), status: .ok, body: Array("slow".utf8))
        }
        let client = try GPollClient(endpoint: server.url)
        let events = try await collect(client, until: { $0.filter { $0.messageText != nil }.count == 2 })
        await client.close()
        await server.stop()

        #expect(events.compactMap(\.messageText) == ["slow", "slow"])
        #expect(server.endsOfInputWhileWaiting == 0)
        let requests = server.requests
        // Each poll arrived after the previous one was answered.
        for (previous, next) in zip(requests.dropFirst(), requests.dropFirst(2)) {
            #expect(previous.arrival.duration(to: next.arrival) >= .milliseconds(1500))
        }
    }

    @Test("acknowledged delivery: a 200 lost in transit is re-sent and delivered once; a duplicate is dropped (CL-22, CL-23)")
    func lostAnswerUnderAck() async throws {
        let handshake = #"{"client-id":"0$11111111-2222-4333-8444-555555555555","gpoll":"1.1","extensions":["ack"]}"#
        let server = try await ScriptedServer { request, index in
            switch index {
            case 0: return .handshake(handshake)
            // The first answer dies mid-body: the client never has message 1.
            case 1: return .truncate(headers: [("GPoll-Sequence", "1")], body: Array("alpha".utf8), sent: 2)
            case 2: return .ok("alpha", headers: [("GPoll-Sequence", "1")])
            case 3: return .ok("beta", headers: [("GPoll-Sequence", "2")])
            // A spurious re-send of 2 (as after a lost acknowledgement): not delivered twice.
            case 4: return .ok("beta", headers: [("GPoll-Sequence", "2")])
            case 5: return .ok("gamma", headers: [("GPoll-Sequence", "3")])
            default: return .hold
            }
        }
        let client = try GPollClient(endpoint: server.url)
        let events = try await collect(client, until: { $0.filter { $0.messageText != nil }.count == 3 })
        await client.close()
        await server.stop()

        #expect(events.compactMap(\.messageText) == ["alpha", "beta", "gamma"])
        // The lost answer's poll is repeated with the same ack; the dropped duplicate acknowledges nothing new.
        #expect(server.requests.dropFirst().map(\.ack) == [.acknowledging(0), .acknowledging(0), .acknowledging(1),
                                                          .acknowledging(2), .acknowledging(2)])
    }

    @Test("request timeout above T: a poll unanswered past T + 5 s is closed and repeated at once, without a backoff (CL-15)")
    func requestTimeout() async throws {
        let server = try await ScriptedServer { request, index in
            if request.isHandshake { return .handshake(#"{"client-id":"0$11111111-2222-4333-8444-555555555555","poll-timeout":0.5}"#) }
            return index == 1 ? .hold : .ok("second poll")
        }
        let client = try GPollClient(endpoint: server.url)
        let events = try await collect(client, until: { $0.contains { $0.messageText != nil } })
        await client.close()
        await server.stop()

        #expect(events.count == 2, "no backoff event: \(events)")
        let requests = server.requests
        try #require(requests.count == 3)
        // Not before T + 5 s: the client must not give up on a poll the server may still answer.
        // The client's clock starts when it sends, the server's when the request arrives,
        // which on a loaded machine was seen to be 1.4 s later. So the bound is halfway
        // between the wrong answer (a client that waited only T repeats after 0.5 s) and
        // the right one (T + 5 s): it tells them apart without timing the machine.
        #expect(requests[1].arrival.duration(to: requests[2].arrival) >= .milliseconds(2750))
        #expect(requests[2].clientID == Self.id)
    }

    @Test("a redirect is not followed: a failure with a backoff (CL-18)")
    func redirect() async throws {
        let server = try await ScriptedServer { request, index in
            index == 0 ? .respond(status: .found, headers: [("Location", "/elsewhere?client-id=0")]) : request.isHandshake && request.uri.hasPrefix("/poll") ? .handshake() : .hold
        }
        let client = try GPollClient(endpoint: server.url, configuration: Self.fastBackoff)
        let events = try await collect(client, until: { $0.count == 2 })
        await client.close()
        await server.stop()
        guard case .backingOff(.status(let status, .handshake), _) = events[0], status.code == 302 else { Issue.record("\(events)"); return }
        #expect(!server.requests.contains { $0.uri.hasPrefix("/elsewhere") })
    }

    @Test("cancelling the iterating task ends the sequence without an error and closes the waiting poll's connection")
    func cancellation() async throws {
        let server = try await ScriptedServer { request, _ in request.isHandshake ? .handshake() : .hold }
        let client = try GPollClient(endpoint: server.url)
        let iteration = Task { try await collect(client, until: { _ in false }) }
        try await server.waitForRequests(2)
        iteration.cancel()
        let events = try await iteration.value
        #expect(events.count == 1)
        // The held poll's connection is closed by the client (the handshake's may be pooled and closed later).
        try await server.waitForClosedConnections(1)
        await client.close()
        await server.stop()
    }
}
