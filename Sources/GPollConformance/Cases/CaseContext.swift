import GPollCore
import GPollSpec
import GPollWire
import Synchronization

/// How a case ends early: a broken expectation or an inability to run.
enum CaseStop: Error, Sendable {
    case broken(Finding)
    case couldNotRun(String)
    /// What the case saw is legal at these settings but proves nothing either way
    /// (a 404 after a client was idle for E, say): SKIP with the reason, never a verdict.
    case inconclusive(String)
}

/// Which endpoint a helper talks to.
enum EndpointChoice: Sendable {
    case primary
    case second
}

/// What a running case is given: connections, the harness helpers and the checks.
/// Every helper records into the case's transcript.
final class CaseContext: Sendable {
    let settings: Settings
    let transcript: Transcript
    let caseID: String
    /// Unique to this case and run, so a case recognises its own messages.
    let prefix: String
    /// The broadcast domain the case runs in; `settings` already points at it.
    let lane: Lane
    private let client: WireClient
    private let catalog: Catalog
    private let caseLevel: Catalog.Level
    private let connections = Mutex<[WireConnection]>([])
    private let ended = Mutex(false)
    /// Idle keep-alive publish connections by publish URL, with the time of their last answer.
    private let publishConnections = Mutex<[String: (WireConnection, ContinuousClock.Instant)]>([:])
    private let messageCounter = Mutex(0)
    /// When the case's latest publish was answered 2xx: by then every poll that was
    /// waiting has been handed the message (HA-1), so a later 204 to such a poll is
    /// not a timeout that raced the publish.
    private let lastPublishAnswered = Mutex<ContinuousClock.Instant?>(nil)
    /// Since when each client of the case has had no poll in flight, by the tester's
    /// clock (from the handshake's sending, then from each poll's answer): a 404 for a
    /// client idle for about E is legal expiry (RL-1), not a broken MUST.
    private let idleSince = Mutex<[String: ContinuousClock.Instant]>([:])

    init(settings: Settings, client: WireClient, catalog: Catalog, caseID: String, caseLevel: Catalog.Level,
         transcript: Transcript, prefix: String, lane: Lane = .a) {
        self.settings = settings.onLane(lane)
        self.lane = lane
        self.client = client
        self.catalog = catalog
        self.caseID = caseID
        self.caseLevel = caseLevel
        self.transcript = transcript
        self.prefix = prefix
    }

    /// How long to wait for an answer the server owes at once (handshake, 404, publish).
    var prompt: Duration { min(.seconds(5), settings.caseTimeout / 2) }
    /// How long to wait for something the server owes eventually (a message after a publish).
    var patience: Duration { min(.seconds(5), settings.caseTimeout / 2) }
    /// How long to watch for something that must not happen.
    var settle: Duration { settings.settle }
    /// "At once" (Spec §16.4): one second plus the round trip, measured by the probe,
    /// or plus the settle time when that is longer.
    var atOnce: Duration { .seconds(1) + max(settle, settings.roundTrip) }
    var clientBuffer: Int { settings.clientBuffer }

    func endpoint(_ which: EndpointChoice) -> Endpoint {
        switch which {
        case .primary: return settings.pollURL
        case .second: return settings.secondEndpoint ?? settings.pollURL
        }
    }

    // MARK: Connections

    func connect(_ which: EndpointChoice = .primary) async throws -> WireConnection {
        try await open(endpoint(which))
    }

    /// A connection whose traffic is not recorded in the case's transcript: for the
    /// stress tier's thousands of connections, whose case notes what they showed.
    /// Its connect may take `connectTimeout`: thousands of connects at once overflow
    /// a listen backlog, and the kernel's SYN retries then take seconds.
    func connectUnrecorded(_ which: EndpointChoice = .primary, connectTimeout: Duration = .seconds(30)) async throws -> WireConnection {
        try await open(endpoint(which), recordingInto: Transcript(), connectTimeout: connectTimeout)
    }

    /// A connection to any URL (a publish URL without credentials, for instance).
    func client_connect(_ endpoint: Endpoint) async throws -> WireConnection { try await open(endpoint) }

    private func open(_ endpoint: Endpoint, recordingInto record: Transcript? = nil,
                      connectTimeout: Duration = .seconds(5)) async throws -> WireConnection {
        let connection: WireConnection
        do {
            connection = try await client.connect(to: endpoint, transcript: record ?? transcript,
                                                  connectTimeout: .milliseconds(Int64(connectTimeout / .milliseconds(1))))
        } catch {
            throw CaseStop.couldNotRun("\(error)")
        }
        // A case that overran its time is over: it must not open connections (or
        // publish) on a lane that the next case now owns.
        let refused = connections.withLock { list -> Bool in
            if ended.withLock({ $0 }) { return true }
            list.append(connection)
            return false
        }
        if refused {
            await connection.close()
            throw CaseStop.couldNotRun("the case had already ended")
        }
        return connection
    }

    /// Closes every connection the case opened (its polls are then withdrawn) and
    /// refuses new ones.
    func closeAll() async {
        let all = connections.withLock { list in
            ended.withLock { $0 = true }
            return list
        }
        for connection in all { await connection.close() }
    }

    // MARK: Requests

    /// The request target for a raw `client-id` text (already percent-encoded).
    func target(clientID: String?, on which: EndpointChoice = .primary) -> [UInt8] {
        endpoint(which).target(clientID: clientID.map { Array($0.utf8) })
    }

    /// Sends a GET with the given raw `client-id` text and awaits the answer within `prompt`.
    func get(clientID: String?, on connection: WireConnection, within: Duration? = nil) async throws -> WireEvent {
        let target = connection.endpoint.target(clientID: clientID.map { Array($0.utf8) })
        return try await send(WireRequest(target: target), on: connection, within: within ?? prompt)
    }

    func send(_ request: WireRequest, on connection: WireConnection, within: Duration) async throws -> WireEvent {
        do {
            try await connection.send(request)
        } catch {
            throw CaseStop.couldNotRun("\(error)")
        }
        return await connection.next(within: within)
    }

    /// Registers a client the canonical way (`client-id=0`) and returns its id, judging
    /// the answer only as far as every later step depends on it.
    func handshake(_ which: EndpointChoice = .primary, on connection: WireConnection? = nil,
                          requirement: String? = nil) async throws -> ClientID {
        let connection = try await { if let connection { return connection }; return try await connect(which) }()
        let sent = ContinuousClock.now
        let event = try await get(clientID: "0", on: connection)
        let response = try expectStatus(event, 200, requirement: requirement, what: "a handshake (client-id=0)")
        switch HandshakeBody.decode(response.body) {
        case .success(let id):
            idleSince.withLock { $0[id.description] = sent }
            return id
        case .failure(let error):
            throw CaseStop.broken(finding(requirement, expected: "a JSON object whose member client-id is a valid id",
                                          actual: "\(error): \(Transcript.escape(response.body, limit: 120))"))
        }
    }

    /// Sends a poll for `id` (as `R$U`, or as the given raw text) without waiting for
    /// its answer. A 404 to it, after the client was idle for about E, ends the case
    /// as inconclusive: see ``judgeNotFound(_:id:sentAt:)``.
    func startPoll(_ id: ClientID, on connection: WireConnection, text: String? = nil) async throws {
        let target = connection.endpoint.target(clientID: Array((text ?? id.description).utf8))
        let idle = idleSince.withLock { $0[id.description].map { ContinuousClock.now - $0 } }
        do { try await connection.send(WireRequest(target: target)) } catch { throw CaseStop.couldNotRun("\(error)") }
        outstanding.withLock { $0[ObjectIdentifier(connection)] = OutstandingPoll(id: id.description, idle: idle, sent: .now) }
    }

    /// What ``startPoll`` recorded of the poll outstanding on a connection.
    private struct OutstandingPoll {
        var id: String
        /// How long its client had been idle when the poll was sent (nil: not one of
        /// the case's handshakes).
        var idle: Duration?
        var sent: ContinuousClock.Instant
    }
    private let outstanding = Mutex<[ObjectIdentifier: OutstandingPoll]>([:])

    /// When the poll outstanding on `connection` was sent, if one is.
    func pollSent(on connection: WireConnection) -> ContinuousClock.Instant? {
        outstanding.withLock { $0[ObjectIdentifier(connection)]?.sent }
    }

    /// The answer to the poll outstanding on `connection`, within `within`. Keeps the
    /// client's idle clock, and turns a 404 that idle expiry explains into
    /// ``CaseStop/inconclusive(_:)``.
    func answer(on connection: WireConnection, within: Duration) async throws -> WireEvent {
        let event = await connection.next(within: within)
        guard case .response = event,
              let poll = outstanding.withLock({ $0.removeValue(forKey: ObjectIdentifier(connection)) }) else { return event }
        let id = poll.id
        // The client has been idle since the server answered, which is when the answer
        // arrived, not when the case got round to reading it.
        idleSince.withLock { $0[id] = event.response?.received ?? .now }
        if event.response?.status == 404, let idle = poll.idle, expiryExplains(idle: idle) {
            throw CaseStop.inconclusive("a poll of \(id) got 404 after its client had been idle for \(idle), "
                + (settings.idleExpiry == nil ? "and E is unknown (at least 1 s by Spec §16.2)" : "about E = \(settings.idleExpiry!)")
                + ": legal idle expiry (RL-1); give a longer --idle-expiry to judge this case")
        }
        return event
    }

    /// Whether a client idle for `idle` (tester's clock) may have been expired by a
    /// correct server: E is unknown (so at least 1 s) or known and not 0, and the idle
    /// time plus a round trip's allowance reaches it.
    func expiryExplains(idle: Duration) -> Bool {
        let floor: Duration
        switch settings.idleExpiry {
        case .some(.zero): return false
        case .some(let e): floor = e
        case .none: floor = .seconds(1)
        }
        // Spec §16.4: a request sent before E - 0.5 s of idleness must find the client live.
        return idle + .milliseconds(500) >= floor
    }

    /// `$` sent as `%24`, as a careful client does; a server must decode it.
    func percentEncodedID(_ id: ClientID) -> [UInt8] {
        Array(id.description.replacingOccurrences(of: "$", with: "%24").utf8)
    }

    /// Polls and returns the answer. With `within` given: the first answer within that
    /// time, whatever it is (timing cases). Without: the poll is owed a message, so a
    /// 204 that the poll timeout explains is followed by another poll, as a client
    /// would, until `patience` has passed (``awaitMessage(_:on:text:within:)``).
    func poll(_ id: ClientID, on connection: WireConnection, text: String? = nil, within: Duration? = nil) async throws -> WireEvent {
        try await startPoll(id, on: connection, text: text)
        if let within { return try await answer(on: connection, within: within) }
        return try await awaitMessage(id, on: connection, text: text)
    }

    /// The answer to a poll of `id` already sent on `connection` that is owed a
    /// message. A 204 is legal there when the poll's own timeout ran out first (T not
    /// 0, and the poll was at least T - 0.1 s old, or T unknown and at least 0.9 s):
    /// the case polls again, as a client would, within `within` (default `patience`).
    /// Any other answer, or a 204 no timeout explains, is returned to be judged.
    ///
    /// A 204 that came later than "at once" after the publish was answered is judged too
    /// (a waiting poll owed the message, PO-1), unless `judgingPO1` is false: a case that
    /// judges only that the id is live and gets the message (ID-4) polls again after any
    /// timeout's 204, since a server whose loops are starved may write a 204 it decided
    /// before the publish seconds after it.
    func awaitMessage(_ id: ClientID, on connection: WireConnection, text: String? = nil,
                      within: Duration? = nil, judgingPO1: Bool = true) async throws -> WireEvent {
        let deadline = ContinuousClock.now + (within ?? patience)
        while true {
            // From the poll's sending: its 204 may have waited unread since.
            let sent = pollSent(on: connection) ?? .now
            let event = try await answer(on: connection, within: max(.zero, deadline - .now))
            guard let response = event.response, response.status == 204, ContinuousClock.now < deadline,
                  timeoutExplains204(after: response.received - sent),
                  !judgingPO1 || timeoutRacedPublish(sent: sent, answered: response.received)
            else { return event }
            note("a 204 after \(response.received - sent): the poll timed out before its message came; polling again, as a client would")
            try await startPoll(id, on: connection, text: text)
        }
    }

    /// Whether a poll timeout's 204 can have come before the message reached the
    /// poll: the poll was sent before the latest publish was answered, and the 204 came
    /// no later than "at once" after that answer (a server that answers a waiting poll
    /// 204 once it has offered it a message has broken PO-1).
    func timeoutRacedPublish(sent: ContinuousClock.Instant, answered: ContinuousClock.Instant) -> Bool {
        guard let published = lastPublishAnswered.withLock({ $0 }) else { return true }
        return sent < published && answered <= published + atOnce
    }

    /// Whether a 204 that ended a lone poll after `waited` is the poll timeout's (TO-1),
    /// with the Spec's tolerance: not before T - 0.1 s; T unknown counts as at least 1 s.
    func timeoutExplains204(after waited: Duration) -> Bool {
        switch settings.pollTimeout {
        case .some(.zero): return false
        case .some(let t): return waited >= t - .milliseconds(100)
        case .none: return waited >= .milliseconds(900)
        }
    }

    // MARK: Messages and publishing

    /// A message unique to this case: `<prefix>-<n>` plus optional padding.
    func message(_ label: String? = nil) -> [UInt8] {
        let n = messageCounter.withLock { value in value += 1; return value }
        return Array("\(prefix)-\(label ?? String(n))".utf8)
    }

    /// Publishes through the harness interface; a non-2xx answer or no answer is an
    /// ERROR outcome (the harness, not the protocol, failed). Consecutive publishes of
    /// a case reuse one keep-alive connection per publish URL (opening a connection per
    /// message made B publishes slow enough to approach a short E), unless the server
    /// said `Connection: close` or the connection has been idle for 500 ms (a server's
    /// keep-alive timeout could close it as the request goes out).
    /// Publishes `body` through the harness interface, waiting `within` (default:
    /// `--timeout`) for the answer, which a server gives once it has offered the message
    /// to every waiting poll (the stress tier's 10,000 take longer on a slow machine).
    func publish(_ body: [UInt8], to which: EndpointChoice = .primary, contentType: String? = nil,
                 within: Duration? = nil) async throws {
        let answerWithin = within ?? settings.caseTimeout
        let url: Endpoint?
        switch which {
        case .primary: url = settings.publishURL
        case .second: url = settings.secondPublishURL
        }
        guard let url else { throw CaseStop.couldNotRun("no publish URL for this endpoint") }
        let key = "\(url)"
        let now = ContinuousClock.now
        let reusable = publishConnections.withLock { idle -> WireConnection? in
            guard let (connection, since) = idle.removeValue(forKey: key), now - since < .milliseconds(500) else { return nil }
            return connection
        }
        var headers = settings.publishHeaders
        if let contentType { headers.append(("Content-Type", contentType)) }
        let request = WireRequest(method: "POST", target: url.plainTarget, headers: headers, body: body)
        var connection: WireConnection
        var event: WireEvent
        if let reusable, await !reusable.isClosed {
            connection = reusable
            // A kept connection the server closed before reading the request: nothing
            // was published, so send it again on a new connection.
            if (try? await connection.send(request)) != nil {
                event = await connection.next(within: answerWithin)
            } else {
                event = .closed
            }
            if case .closed = event {
                await connection.close()
                note("the kept publish connection was closed; publishing on a new one")
                connection = try await open(url)
                event = try await send(request, on: connection, within: answerWithin)
            }
        } else {
            if let reusable { await reusable.close() }
            connection = try await open(url)
            event = try await send(request, on: connection, within: answerWithin)
        }
        guard let response = event.response else {
            await connection.close()
            throw CaseStop.couldNotRun("publish URL \(url) gave \(event.summary)")
        }
        if response.value("Connection")?.lowercased().contains("close") == true || response.version != "HTTP/1.1" {
            await connection.close()
        } else {
            publishConnections.withLock { $0[key] = (connection, ContinuousClock.now) }
        }
        guard (200..<300).contains(response.status) else {
            throw CaseStop.couldNotRun("publish URL \(url) answered \(response.status)")
        }
        lastPublishAnswered.withLock { $0 = response.received }
    }

    // MARK: Checks

    func finding(_ requirement: String?, expected: String, actual: String) -> Finding {
        let level = requirement.flatMap { catalog.requirement($0)?.level } ?? caseLevel
        return Finding(requirement: requirement, level: level, expected: expected, actual: actual)
    }

    /// Ends the case with a broken expectation unless `condition` holds. The level
    /// (FAIL for MUST, WARN for SHOULD) is the cited requirement's.
    func check(_ condition: Bool, _ requirement: String?, expected: String, actual: @autoclosure () -> String) throws {
        if !condition { throw CaseStop.broken(finding(requirement, expected: expected, actual: actual())) }
    }

    func fail(_ requirement: String?, expected: String, actual: String) -> CaseStop {
        .broken(finding(requirement, expected: expected, actual: actual))
    }

    /// The response, if the event is one with the expected status.
    @discardableResult
    func expectStatus(_ event: WireEvent, _ status: Int, requirement: String?, what: String) throws -> WireResponse {
        guard let response = event.response, response.status == status else {
            throw CaseStop.broken(finding(requirement, expected: "\(status) for \(what)", actual: event.summary))
        }
        return response
    }

    /// Expects a 200 whose body is exactly `message`.
    func expectMessage(_ event: WireEvent, _ message: [UInt8], requirement: String?) throws {
        let response = try expectStatus(event, 200, requirement: requirement,
                                        what: "a poll owed '\(Transcript.escape(message, limit: 60))'")
        try check(response.body == message, requirement,
                  expected: "the body '\(Transcript.escape(message, limit: 80))' (\(message.count) bytes)",
                  actual: "'\(Transcript.escape(response.body, limit: 80))' (\(response.body.count) bytes)")
    }

    /// Expects that nothing arrives within `settle`: no response, no close.
    func expectQuiet(_ connection: WireConnection, requirement: String?, what: String) async throws {
        let event = await connection.next(within: settle)
        guard case .timedOut = event else {
            throw CaseStop.broken(finding(requirement, expected: "nothing yet for \(what)", actual: event.summary))
        }
    }

    func note(_ text: String) { transcript.note(text) }

    /// Sleeps for a deployment-defined span (T or E) that no request can shorten.
    func wait(_ duration: Duration) async throws {
        note("waiting \(duration)")
        try await Task.sleep(for: duration)
    }
}

import Foundation
