import Foundation
import GPollCore
import Testing
@testable import GPollClient

/// The client algorithm without I/O: each answer of the Spec's table (section 19.2)
/// moves the machine as the table says.
@Suite("client algorithm (no I/O)")
struct StateMachineTests {
    typealias Machine = ClientStateMachine

    static let id = "0$11111111-2222-4333-8444-555555555555"

    static func response(_ code: Int, _ body: String = "", retryAfter: Duration? = nil, sequence: String? = nil,
                         reason: String? = nil, elapsed: Duration = .seconds(30)) -> Machine.Outcome {
        .response(.init(status: HTTPStatusLine(code: code, reasonPhrase: ""), retryAfter: retryAfter, sequence: sequence,
                        reason: reason, body: Array(body.utf8), elapsed: elapsed))
    }

    static func registered(_ json: String = #"{"client-id":"0$11111111-2222-4333-8444-555555555555","poll-timeout":30,"extensions":["ack"]}"#,
                           configuration: GPollClientConfiguration = .init()) -> (Machine, GPollEvent?) {
        var machine = Machine(configuration: configuration)
        let event = machine.handle(response(200, json))
        return (machine, event)
    }

    @Test("registers with client-id=0, polls the id with ack=0 and a deadline of T + 5 s")
    func registersAndPolls() {
        var machine = Machine(configuration: .init())
        #expect(machine.step == .send(.handshake, deadline: .seconds(60)))
        let event = machine.handle(Self.response(200, #"{"client-id":"0$11111111-2222-4333-8444-555555555555","poll-timeout":30,"extensions":["ack"]}"#))
        guard case .registered(let registration) = event else { Issue.record("\(String(describing: event))"); return }
        #expect(registration.id == Self.id && registration.usesAcknowledgedDelivery)
        #expect(machine.step == .send(.poll(id: Self.id, ack: 0), deadline: .seconds(35)))
    }

    @Test("without an advertised T the poll deadline is 60 s (CL-26); a configured T is used when none is advertised")
    func deadlines() {
        var (machine, _) = Self.registered(#"{"client-id":"0$11111111-2222-4333-8444-555555555555"}"#)
        #expect(machine.step == .send(.poll(id: Self.id, ack: nil), deadline: .seconds(60)))
        var configuration = GPollClientConfiguration()
        configuration.pollTimeout = .seconds(100)
        (machine, _) = Self.registered(#"{"client-id":"0$11111111-2222-4333-8444-555555555555"}"#, configuration: configuration)
        #expect(machine.step == .send(.poll(id: Self.id, ack: nil), deadline: .seconds(105)))
        (machine, _) = Self.registered(#"{"client-id":"0$11111111-2222-4333-8444-555555555555","poll-timeout":0}"#, configuration: configuration)
        #expect(machine.step == .send(.poll(id: Self.id, ack: nil), deadline: .seconds(60)))
        _ = machine.handle(Self.response(200, "m"))
    }

    @Test("handshake answers: any JSON object with a string client-id of 10 bytes or more (CL-4)", arguments: [
        (#"{"client-id":"0$abc-def-ghij"}"#, "0$abc-def-ghij"),
        (" {\n \"gpoll\" : \"1.1\" ,\t\"other\": {\"client-id\": 5, \"x\": [1, null]},\r\n \"client-id\" : \"0$ab\\u0063\\/x-yz\\\"q\" } ", "0$abc/x-yz\"q"),
        (#"{"extensions":["ack","future"],"unknown":true,"client-id":"7$aaaaaaaa"}"#, "7$aaaaaaaa"),
        // Nested members named client-id, and a string value that looks like a member, are not members.
        (#"{"a":{"client-id":"x"},"b":[{"client-id":"y"}],"c":"\"client-id\":","client-id":"0$1234567890"}"#, "0$1234567890"),
    ])
    func handshakeAnswers(body: String, id: String) throws {
        #expect(try Machine.readHandshakeAnswer(Array(body.utf8)).get() == id)
    }

    @Test("bodies that are not a handshake answer are failures", arguments: [
        "", "client-id=0$abc", #"["client-id","0$11111111"]"#, #"{"client-id":12345678901}"#, #"{"id":"0$11111111-2222"}"#,
        #"{"client-id":"0$short"}"#, #"{"client-id":"0$11111111-2222-4333-8444-555555555555""#, "\"0$11111111-2222-4333\"",
        #"{"client-id":"0$11111111-2222-4333-8444-555555555555","client-id":"0$22222222-2222-4333-8444-555555555555"}"#,
        #"{"client-id":"0$11111111-2222-4333-8444-555555555555", "client\u002did" : "0$22222222-2222-4333-8444-555555555555"}"#,
    ])
    func notHandshakeAnswers(body: String) {
        var machine = Machine(configuration: .init())
        let event = machine.handle(Self.response(200, body))
        guard case .backingOff(.notAHandshakeAnswer, _)? = event else { Issue.record("\(body): \(String(describing: event))"); return }
        guard case .wait = machine.step else { Issue.record("\(machine.step)"); return }
        machine.waited()
        #expect(machine.step == .send(.handshake, deadline: .seconds(60)))
    }

    @Test("backoff: the n-th delay is within [0, min(cap, base × 2^(n−1))], and a success resets n (CL-16)")
    func backoffBounds() {
        var machine = Machine(configuration: .init())
        var delays: [Duration] = []
        for n in 1...9 {
            guard case .backingOff(_, let delay)? = machine.handle(Self.response(500)) else { Issue.record("no backoff"); return }
            let ceiling = min(Duration.seconds(60), Duration.seconds(1) * (1 << (n - 1)))
            #expect(delay >= .zero && delay <= ceiling, "failure \(n): \(delay) above \(ceiling)")
            delays.append(delay)
            #expect(machine.step == .wait(delay))
            machine.waited()
        }
        #expect(Set(delays).count > 1, "jittered delays are not all equal")
        _ = machine.handle(Self.response(200, #"{"client-id":"0$11111111-2222-4333-8444-555555555555"}"#))
        _ = machine.handle(Self.response(503))
        guard case .backingOff(.status, let delay) = machine.handle(Self.response(503)) ?? .message(.init(bytes: [])) else {
            Issue.record("no backoff after a reset"); return
        }
        // The second failure after the reset: at most base × 2.
        #expect(delay <= .seconds(2))
    }

    @Test("Retry-After on 429 and 503 is the wait, capped at 600 s (CL-17)")
    func retryAfter() {
        var (machine, _) = Self.registered()
        let event = machine.handle(Self.response(503, retryAfter: .seconds(7)))
        #expect(event == .backingOff(reason: .retryAfter(HTTPStatusLine(code: 503, reasonPhrase: "")), duration: .seconds(7)))
        machine.waited()
        #expect(machine.step == .send(.poll(id: Self.id, ack: 0), deadline: .seconds(35)))
        _ = machine.handle(Self.response(429, retryAfter: .seconds(5000)))
        #expect(machine.step == .wait(.seconds(600)))
    }

    @Test("204 after T polls again; two early 204s in a row register again (CL-11, CL-12)")
    func early204() {
        var (machine, _) = Self.registered()
        #expect(machine.handle(Self.response(204, elapsed: .seconds(30))) == nil)
        #expect(machine.handle(Self.response(204, elapsed: .milliseconds(5))) == nil)
        #expect(machine.step == .send(.poll(id: Self.id, ack: 0), deadline: .seconds(35)))
        #expect(machine.handle(Self.response(204, elapsed: .milliseconds(5))) == nil)
        #expect(machine.step == .send(.handshake, deadline: .seconds(60)))
        let event = machine.handle(Self.response(200, #"{"client-id":"0$99999999-2222-4333-8444-555555555555"}"#))
        guard case .registeredAgain(let registration, .idHeldElsewhere)? = event else { Issue.record("\(String(describing: event))"); return }
        #expect(registration.id == "0$99999999-2222-4333-8444-555555555555")
    }

    @Test("404: on the first poll of a fresh id a backoff, later a registration at once and a gap (CL-13, CL-14)")
    func notFound() {
        var (machine, _) = Self.registered()
        guard case .backingOff(.notFound(.poll), _)? = machine.handle(Self.response(404)) else { Issue.record("no backoff"); return }
        machine.waited()
        #expect(machine.step == .send(.handshake, deadline: .seconds(60)))
        _ = machine.handle(Self.response(200, #"{"client-id":"0$22222222-2222-4333-8444-555555555555","extensions":["ack"]}"#))
        #expect(machine.handle(Self.response(200, "m", sequence: "1")) == .message(.init(bytes: Array("m".utf8), sequence: 1)))
        #expect(machine.step == .send(.poll(id: "0$22222222-2222-4333-8444-555555555555", ack: 1), deadline: .seconds(60)))
        #expect(machine.handle(Self.response(404, reason: "evicted")) == nil)
        #expect(machine.step == .send(.handshake, deadline: .seconds(60)))
        let event = machine.handle(Self.response(200, #"{"client-id":"0$33333333-2222-4333-8444-555555555555","extensions":["ack"]}"#))
        guard case .registeredAgain(_, .notFound(.evicted))? = event else { Issue.record("\(String(describing: event))"); return }
        // CL-24: ack starts again at 0 with the new id.
        #expect(machine.step == .send(.poll(id: "0$33333333-2222-4333-8444-555555555555", ack: 0), deadline: .seconds(60)))
    }

    @Test("other 4xx on a poll: back off, then register again (CL-19); 3xx and 5xx: back off, poll again (CL-16, CL-18)")
    func failuresOnPolls() {
        for code in [400, 405, 414, 403] {
            var (machine, _) = Self.registered()
            guard case .backingOff(.status(let status, .poll), _)? = machine.handle(Self.response(code)), status.code == code else {
                Issue.record("\(code): no backoff"); continue
            }
            machine.waited()
            #expect(machine.step == .send(.handshake, deadline: .seconds(60)), "\(code)")
        }
        for code in [301, 302, 307, 500, 502, 503, 429] {
            var (machine, _) = Self.registered()
            guard case .backingOff(.status, _)? = machine.handle(Self.response(code)) else { Issue.record("\(code): no backoff"); continue }
            machine.waited()
            #expect(machine.step == .send(.poll(id: Self.id, ack: 0), deadline: .seconds(35)), "\(code)")
        }
    }

    @Test("a lost poll is repeated at once, a second one in a row after a backoff; a timeout polls again at once (CL-20, CL-15)")
    func lostConnections() {
        var (machine, _) = Self.registered()
        #expect(machine.handle(.connectionLost("reset")) == nil)
        #expect(machine.step == .send(.poll(id: Self.id, ack: 0), deadline: .seconds(35)))
        guard case .backingOff(.connectionLost, _)? = machine.handle(.connectionLost("reset")) else { Issue.record("no backoff"); return }
        machine.waited()
        #expect(machine.handle(.timedOut) == nil)
        #expect(machine.step == .send(.poll(id: Self.id, ack: 0), deadline: .seconds(35)))
        guard case .backingOff(.unreachable, _)? = machine.handle(.unreachable("refused")) else { Issue.record("refused: no backoff"); return }
    }

    @Test("acknowledged delivery: a re-sent sequence is dropped, no sequence falls back to plain polls (CL-22, CL-23)")
    func acknowledgedDelivery() {
        var (machine, _) = Self.registered()
        #expect(machine.handle(Self.response(200, "a", sequence: "1")) == .message(.init(bytes: Array("a".utf8), sequence: 1)))
        #expect(machine.handle(Self.response(200, "a", sequence: "1")) == nil)
        #expect(machine.step == .send(.poll(id: Self.id, ack: 1), deadline: .seconds(35)))
        #expect(machine.handle(Self.response(200, "", sequence: "2")) == .message(.init(bytes: [], sequence: 2)))
        #expect(machine.handle(Self.response(200, "c")) == .message(.init(bytes: Array("c".utf8))))
        #expect(machine.step == .send(.poll(id: Self.id, ack: nil), deadline: .seconds(35)))
    }

    @Test("giving up after the configured number of failures in a row")
    func givesUp() {
        var configuration = GPollClientConfiguration()
        configuration.maximumConsecutiveFailures = 2
        var machine = Machine(configuration: configuration)
        #expect(machine.handle(.unreachable("refused")) != nil)
        machine.waited()
        #expect(machine.handle(.unreachable("refused")) == nil)
        #expect(machine.step == .fail(.gaveUp(failures: 2, last: .unreachable("refused"))))
    }

    @Test("configurations outside the Spec's bounds are refused")
    func configurationBounds() {
        var configuration = GPollClientConfiguration()
        #expect(configuration.problems.isEmpty)
        configuration.backoff = .init(base: .seconds(2), cap: .seconds(5))
        configuration.pollDeadlineMargin = .seconds(1)
        configuration.unknownTimeoutPollDeadline = .seconds(30)
        #expect(configuration.problems.count == 4)
        #expect(throws: GPollClientError.self) { try GPollClient(endpoint: "http://127.0.0.1:1/poll", configuration: configuration) }
        #expect(throws: GPollClientError.invalidEndpoint("ftp://x/poll")) { try GPollClient(endpoint: "ftp://x/poll") }
    }
}

@Suite("request targets and Retry-After")
struct WireFormatTests {
    @Test("the id is percent-encoded, `$` as %24 (CL-6, CL-7), and the endpoint's own query is kept")
    func requestTargets() throws {
        let endpoint = try Endpoint("http://127.0.0.1:8080/poll")
        #expect(endpoint.url(for: .handshake) == "http://127.0.0.1:8080/poll?client-id=0")
        #expect(endpoint.url(for: .poll(id: "0$ab-c", ack: 3)) == "http://127.0.0.1:8080/poll?client-id=0%24ab-c&ack=3")
        #expect(endpoint.url(for: .poll(id: "1$a+b %&=é~._", ack: nil)) == "http://127.0.0.1:8080/poll?client-id=1%24a%2Bb%20%25%26%3D%C3%A9~._")
        let withQuery = try Endpoint("https://example.com/g?room=7#top")
        #expect(withQuery.url(for: .handshake) == "https://example.com/g?room=7&client-id=0")
        #expect(try Endpoint("http://example.com").url(for: .handshake) == "http://example.com/?client-id=0")
        // What a server decodes is exactly the id (GPollCore's reading of the parameter).
        let target = Array(endpoint.url(for: .poll(id: "1$a+b %&=é~._", ack: nil)).utf8.dropFirst("http://127.0.0.1:8080".utf8.count))
        #expect(ClientIDParameter.parse(requestTarget: target) == .value(Array("1$a+b %&=é~._".utf8)))
    }

    @Test("Retry-After in delay-seconds and as an HTTP-date in its three forms (CL-17)")
    func retryAfter() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(RetryAfter.delay("120", now: now) == .seconds(120))
        #expect(RetryAfter.delay(" 0 ", now: now) == .zero)
        #expect(RetryAfter.delay("Tue, 14 Nov 2023 22:13:25 GMT", now: now) == .seconds(5))
        #expect(RetryAfter.delay("Tuesday, 14-Nov-23 22:13:30 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.delay("Tue Nov 14 22:13:21 2023", now: now) == .seconds(1))
        #expect(RetryAfter.delay("Tue, 14 Nov 2023 22:00:00 GMT", now: now) == .zero)
        #expect(RetryAfter.delay("soon", now: now) == nil)
        #expect(RetryAfter.delay("-5", now: now) == nil)
        #expect(RetryAfter.delay("99999999999999999999999", now: now)! > .seconds(600))
    }
}
