import GPollCore
import GPollWire
import Synchronization

/// Building blocks the cases share: the judgments Spec repeats (a handshake answer,
/// a 404 at once, a run of messages in order) and id mutations.
extension CaseContext {
    /// A request target with a whole query of the case's choosing (after any query
    /// the URL already had).
    func target(query: String?, on which: EndpointChoice = .primary) -> [UInt8] {
        let endpoint = endpoint(which)
        var out = Array(endpoint.path.utf8)
        let parts = [endpoint.query, query].compactMap { $0 }
        if !parts.isEmpty { out += Array(("?" + parts.joined(separator: "&")).utf8) }
        return out
    }

    /// GET with the given query; the answer within `prompt`.
    func get(query: String?, on connection: WireConnection, within: Duration? = nil) async throws -> WireEvent {
        try await send(WireRequest(target: target(query: query)), on: connection, within: within ?? prompt)
    }

    /// Judges an answer as a handshake (HS-1): 200 and a JSON object with a string
    /// member `client-id`. Returns that member's text.
    @discardableResult
    func expectHandshakeAnswer(_ event: WireEvent, _ requirement: String?, what: String) throws -> String {
        let response = try expectStatus(event, 200, requirement: requirement, what: what)
        switch HandshakeBody.decodeClientIDText(response.body) {
        case .success(let text): return text
        case .failure(let error):
            throw fail(requirement, expected: "a JSON object with a string member client-id for \(what)",
                       actual: "\(error): \(Transcript.escape(response.body, limit: 120))")
        }
    }

    /// Sends `client-id=<value>` (raw text) and expects a handshake answer.
    @discardableResult
    func expectHandshake(_ value: String?, on connection: WireConnection, _ requirement: String?) async throws -> String {
        let event = try await get(clientID: value, on: connection)
        return try expectHandshakeAnswer(event, requirement, what: "client-id=\(value ?? "(absent)")")
    }

    /// Sends `client-id=<value>` (raw text) and expects 404 at once.
    func expectNotFound(_ value: String, on connection: WireConnection, _ requirement: String?) async throws {
        let event = try await get(clientID: value, on: connection)
        try expectStatus(event, 404, requirement: requirement, what: "client-id=\(value)")
    }

    /// Polls `id` once per message and expects exactly these messages in order.
    func expectMessages(_ id: ClientID, on connection: WireConnection, _ messages: [[UInt8]], _ requirement: String?) async throws {
        for message in messages {
            try expectMessage(try await poll(id, on: connection), message, requirement: requirement)
        }
    }

    /// Publishes each message in turn, waiting for each 2xx.
    func publish(all messages: [[UInt8]], to which: EndpointChoice = .primary) async throws {
        for message in messages { try await publish(message, to: which) }
    }

    /// `count` fresh messages of this case.
    func messages(_ count: Int) -> [[UInt8]] { (0..<count).map { _ in message() } }

    /// Lets an asynchronous server apply what it acknowledged (--settle-ms).
    func settleDown() async throws { try await Task.sleep(for: settle) }

    /// A fresh random lowercase version-4 uuid.
    func randomUUID() -> String {
        UUIDv4(randomHigh: .random(in: 0...UInt64.max), randomLow: .random(in: 0...UInt64.max)).description
    }

    /// Every byte of `text` as `%HH`.
    func percentEncodeAll(_ text: String, uppercase: Bool) -> String {
        text.utf8.map { "%" + String($0, radix: 16, uppercase: uppercase).leftPadded(to: 2) }.joined()
    }

    /// A bounded wait for one of several connections to answer; nil if none did. Wakes
    /// as soon as any of them has a response or closes (no polling in slices).
    func firstAnswer(_ connections: [WireConnection], within: Duration) async -> (Int, WireEvent)? {
        let deadline = ContinuousClock.now + within
        var start = 0
        while true {
            for offset in connections.indices {
                let index = (start + offset) % connections.count
                if let event = await connections[index].takeReady() {
                    transcript.event(event, connection: connections[index].label)
                    return (index, event)
                }
            }
            start = (start + 1) % max(1, connections.count)
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            let signal = OneShot()
            let token = ObjectIdentifier(signal)
            for connection in connections { await connection.watch(token) { signal.fire() } }
            let timer = Task {
                try? await Task.sleep(for: remaining)
                signal.fire()
            }
            await signal.wait()
            timer.cancel()
            for connection in connections { await connection.unwatch(token) }
        }
    }
}

/// A wake-up that fires once, from any thread.
final class OneShot: Sendable {
    private let state = Mutex<(fired: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    func fire() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.fired { return nil }
            state.fired = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.fired { return true }
                state.continuation = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}

extension ClientID {
    /// The uuid part as text.
    var uuidText: String { uuid.description }
    var routineText: String { String(routine) }
}

extension String {
    /// The string with the character at `offset` replaced.
    func replacing(at offset: Int, with replacement: Character) -> String {
        var characters = Array(self)
        characters[offset] = replacement
        return String(characters)
    }
}
