import GPollCore
import GPollWire

/// Spec section 10: delivery guarantees.
enum DeliveryCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("delivery/001", estimate: { _ in .milliseconds(950) }) { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let burst = max(1, min(ctx.clientBuffer, 25))
            var sent = 0
            while sent < 300 {
                let messages = (sent..<min(300, sent + burst)).map { ctx.message("n\($0)") }
                try await ctx.publish(all: messages)
                try await ctx.expectMessages(id, on: c, messages, "DL-2")
                sent += messages.count
            }
        },
        ConformanceCase("delivery/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let messages = ctx.messages(max(1, min(ctx.clientBuffer, 20)))
            try await ctx.publish(all: messages)
            try await ctx.expectMessages(id, on: c, messages, "DL-1")
            let marker = ctx.message("end")
            try await ctx.publish(marker)
            try ctx.expectMessage(try await ctx.poll(id, on: c), marker, requirement: "DL-1")
        },
        ConformanceCase("delivery/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // Three equal messages, as many at a time as B holds (B may be 1), then a
            // marker: every copy must arrive.
            let same = ctx.message("same")
            var left = 3
            while left > 0 {
                let round = min(left, ctx.clientBuffer)
                let copies = Array(repeating: same, count: round)
                try await ctx.publish(all: copies)
                try await ctx.expectMessages(id, on: c, copies, "DL-1")
                left -= round
            }
            let marker = ctx.message("end")
            try await ctx.publish(marker)
            try ctx.expectMessage(try await ctx.poll(id, on: c), marker, requirement: "DL-1")
        },
        ConformanceCase("delivery/004") { ctx in
            let m0 = ctx.message("before")
            try await ctx.publish(m0)
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m1 = ctx.message("after")
            try await ctx.publish(m1)
            try ctx.expectMessage(try await ctx.poll(id, on: c), m1, requirement: "DL-3")
        },
        ConformanceCase("delivery/005") { ctx in
            var clients: [(ClientID, WireConnection)] = []
            for _ in 0..<20 {
                let c = try await ctx.connect()
                clients.append((try await ctx.handshake(on: c), c))
            }
            // One message at a time: with B = 1 each client holds one queued message.
            for m in [ctx.message(), ctx.message()] {
                try await ctx.publish(m)
                for (id, c) in clients { try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "DL-1") }
            }
        },
        ConformanceCase("delivery/006") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish([])
            // Queued, so answered at once: a 204 here is not a timeout but the empty
            // message turned into "nothing" (the raw answer, no second poll).
            let event = try await ctx.poll(id, on: c, within: ctx.patience)
            try ctx.check(event.response?.status != 204, "DL-5", expected: "200 with an empty body", actual: "204")
            try ctx.expectMessage(event, [], requirement: "DL-5")
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "DL-1")
        },
        ConformanceCase("delivery/007") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            var big = ctx.message("big")
            while big.count < 65_536 { big.append(.random(in: 0...255)) }
            try await ctx.publish(big)
            try ctx.expectMessage(try await ctx.poll(id, on: c), big, requirement: "DL-6")
        },
        ConformanceCase("delivery/008") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let everyByte = (0...255).map { UInt8($0) }
            let awkward: [UInt8] = [0x0D, 0x0A, 0x00, 0xC3, 0x28, 0xFF, 0xFE] + ctx.message()
            for m in [everyByte, awkward] {
                try await ctx.publish(m)
                try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "DL-4")
            }
        },
    ]
}

/// Spec section 11: two polls on one id.
enum ConcurrentCases {
    /// Keeps polls of `id` going on `connections`, publishes each message once the
    /// previous one was seen, and returns every 200 body received, in order of arrival.
    /// A 204 is re-polled only when no other poll of the id waits (else two polls would
    /// evict each other for ever under newest-poll-wins).
    static func gather(_ ctx: CaseContext, _ id: ClientID, _ connections: [WireConnection], publishing messages: [[UInt8]]) async throws -> [[UInt8]] {
        var waiting = Array(repeating: false, count: connections.count)
        for (index, c) in connections.enumerated() {
            try await ctx.startPoll(id, on: c)
            waiting[index] = true
        }
        var received: [[UInt8]] = []
        func take(_ index: Int, _ event: WireEvent) async throws {
            waiting[index] = false
            guard let response = event.response else {
                throw ctx.fail("CP-1", expected: "an answer to every poll", actual: event.summary)
            }
            switch response.status {
            case 200:
                received.append(response.body)
                try await ctx.startPoll(id, on: connections[index])
                waiting[index] = true
            case 204:
                try ctx.check(response.body.isEmpty, "TO-2", expected: "an empty 204", actual: "\(response.body.count) bytes")
                if !waiting.contains(true) {
                    try await ctx.startPoll(id, on: connections[index])
                    waiting[index] = true
                }
            default:
                throw ctx.fail("CP-1", expected: "200 or 204", actual: "\(response.status)")
            }
        }
        for message in messages {
            try await ctx.publish(message)
            let deadline = ContinuousClock.now + ctx.patience
            while !received.contains(message), ContinuousClock.now < deadline {
                guard let (index, event) = await ctx.firstAnswer(connections, within: deadline - ContinuousClock.now) else { break }
                try await take(index, event)
            }
        }
        // Anything else that turns up now is a second copy.
        while let (index, event) = await ctx.firstAnswer(connections, within: ctx.settle) {
            try await take(index, event)
        }
        return received
    }

    static func judge(_ ctx: CaseContext, _ received: [[UInt8]], _ messages: [[UInt8]]) throws {
        for message in messages {
            let count = received.filter { $0 == message }.count
            try ctx.check(count == 1, "CP-1", expected: "'\(Transcript.escape(message, limit: 60))' exactly once across all polls",
                          actual: "\(count) times")
        }
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("concurrent/001") { ctx in
            let id = try await ctx.handshake()
            let connections = [try await ctx.connect(), try await ctx.connect()]
            let messages = ctx.messages(2)
            try judge(ctx, try await gather(ctx, id, connections, publishing: messages), messages)
        },
        ConformanceCase("concurrent/002") { ctx in
            let id = try await ctx.handshake()
            var connections: [WireConnection] = []
            for _ in 0..<10 { connections.append(try await ctx.connect()) }
            let messages = ctx.messages(10)
            try judge(ctx, try await gather(ctx, id, connections, publishing: messages), messages)
        },
        ConformanceCase("concurrent/003") { ctx in
            let (c1, c2) = (try await ctx.connect(), try await ctx.connect())
            let id = try await ctx.handshake(on: c1)
            try await ctx.startPoll(id, on: c1)
            try await ctx.expectQuiet(c1, requirement: "PO-3", what: "the first poll")
            let firstSent = ContinuousClock.now - ctx.settle
            try await ctx.startPoll(id, on: c2)
            // "At once" is one second plus the round trip (Spec §2).
            let older = try await ctx.answer(on: c1, within: ctx.atOnce)
            if older.response?.status == 204, ctx.timeoutExplains204(after: ContinuousClock.now - firstSent) {
                // Its own timeout may have ended the older poll: that tells nothing about CP-2.
                throw CaseStop.inconclusive("the older poll's 204 came when its own poll timeout could explain it (T = \(ctx.settings.pollTimeout.map { "\($0)" } ?? "unknown")); a longer T lets this case judge CP-2")
            }
            try ctx.expectStatus(older, 204, requirement: "CP-2", what: "the older poll once a newer one arrived")
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: c2), m, requirement: "CP-2")
        },
    ]
}

// MARK: - gpoll/1.1 cases of section 10 (concurrent publishers, the handshake boundary, opaque messages)

extension DeliveryCases {
    static let gpoll11: [ConformanceCase] = [
        ConformanceCase("delivery/009", estimate: { _ in .seconds(1) }) { ctx in try await oneOrderForAll(ctx) },
        ConformanceCase("delivery/010", estimate: { $0.settle * 5 + .milliseconds(100) }) { ctx in
            for round in 1...5 {
                // Connected first, so that the handshake follows the publish answer at once.
                let c = try await ctx.connect()
                let before = ctx.message("before\(round)")
                try await ctx.publish(before)
                let id = try await ctx.handshake(on: c, requirement: "HS-1")
                let after = ctx.message("after\(round)")
                try await ctx.publish(after)
                try await ctx.startPoll(id, on: c)
                let event = try await ctx.awaitMessage(id, on: c)
                try ctx.check(event.response?.body != before || event.response?.status != 200, "DL-3",
                              expected: "'\(Transcript.escape(after, limit: 60))' only: '\(Transcript.escape(before, limit: 60))' was published before the handshake was sent",
                              actual: "'\(Transcript.escape(before, limit: 60))' delivered")
                try ctx.expectMessage(event, after, requirement: "DL-1")
                // Nothing else is owed to this client, least of all the earlier message, late.
                try await ctx.startPoll(id, on: c)
                if let late = await c.next(within: ctx.settle).response, late.status == 200 {
                    throw ctx.fail(late.body == before ? "DL-3" : "DL-1", expected: "no second message for a client registered between the two publishes",
                                   actual: "200 with '\(Transcript.escape(late.body, limit: 60))'")
                }
            }
        },
        ConformanceCase("delivery/011") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for m in opaqueMessages(ctx) {
                try await ctx.startPoll(id, on: c)
                do {
                    try await ctx.publish(m)
                } catch CaseStop.couldNotRun(let why) {
                    // A message that stops the server is what this case looks for; a
                    // publish harness that failed on its own is not: the endpoint tells.
                    if let down = await endpointDown(ctx) {
                        throw ctx.fail("DL-8", expected: "'\(Transcript.escape(m, limit: 60))' published like any other message, and the server serving on",
                                       actual: "the publish failed (\(why)) and \(down)")
                    }
                    // A server restarted by a supervisor serves again, but its clients are
                    // gone: the message ended the client (BU-7 allows no such eviction).
                    if let lost = await clientLost(ctx, id) {
                        throw ctx.fail("DL-8", expected: "'\(Transcript.escape(m, limit: 60))' published like any other message, changing nothing else",
                                       actual: "the publish failed (\(why)) and the client it was published to \(lost)")
                    }
                    throw CaseStop.couldNotRun(why)
                }
                try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), m, requirement: "DL-8")
            }
            try await ctx.expectHandshake("0", on: try await ctx.connect(), "DL-8")
        },
    ]

    /// Bodies a server might mistake for something other than a message: the original's
    /// in-band control words (which crash it), with and without a suffix, text that looks
    /// like HTTP or like a handshake answer, NUL bytes and an empty line.
    static func opaqueMessages(_ ctx: CaseContext) -> [[UInt8]] {
        let salt = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let texts = ["quit", "clean", "close", "quit\(salt)", "clean\(salt)", "close\(salt)", "quit\n", "close\r\n",
                     "GET /?client-id=0 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                     #"{"client-id":"0$00000000-0000-4000-8000-000000000000"}"#, "\r\n\r\n", "x\r\n\r\ny"]
        return texts.map { Array($0.utf8) } + [[0x00], Array("quit".utf8) + [0x00], Array("a\u{0}b".utf8)] + [ctx.message("end")]
    }

    /// How the client `id` turned out to be gone (its poll's connection closed, or a
    /// poll of it on a new connection answered 404), or nil if it is still live.
    static func clientLost(_ ctx: CaseContext, _ id: ClientID) async -> String? {
        guard let connection = try? await ctx.connect() else { return nil }
        let event = (try? await ctx.poll(id, on: connection, within: ctx.settle)) ?? .closed
        return event.response?.status == 404 ? "answers 404 now: the server lost it" : nil
    }

    /// Why the poll endpoint does not serve a handshake on a new connection, or nil if it does.
    static func endpointDown(_ ctx: CaseContext) async -> String? {
        let connection: WireConnection
        do { connection = try await ctx.connect() } catch { return "a new connection to the endpoint failed (\(error))" }
        let event = (try? await ctx.get(clientID: "0", on: connection)) ?? .closed
        return event.response == nil ? "a handshake on a new connection got \(event.summary)" : nil
    }

    /// delivery/009. Several publishers publish at once, in rounds; every client keeps a
    /// poll waiting, and all must see one and the same order (DL-2), each message once (DL-1).
    ///
    /// Sizing for small B: a client polls again right after each answer, but a message
    /// can reach the server before that poll does and then waits in the client's queue;
    /// in the worst case every message of a round does. A round starts only when every
    /// client has had every message of the one before, so a client never holds more than
    /// one round: `publishers <= B` keeps every client live. Two publishers are the fewest
    /// that race, hence `client-buffer>=2` in the catalog.
    static func oneOrderForAll(_ ctx: CaseContext) async throws {
        let publishers = min(3, ctx.clientBuffer)
        let rounds = 20
        var clients: [(id: ClientID, connection: WireConnection)] = []
        for _ in 0..<4 {
            let c = try await ctx.connect()
            clients.append((try await ctx.handshake(on: c), c))
        }
        let connections = clients.map(\.connection)
        for (id, c) in clients { try await ctx.startPoll(id, on: c) }
        var seen = Array(repeating: [[UInt8]](), count: clients.count)
        var published: [[UInt8]] = []

        func take(_ index: Int, _ event: WireEvent) async throws {
            guard let response = event.response else {
                throw ctx.fail("DL-1", expected: "an answer to every poll of client \(index + 1)", actual: event.summary)
            }
            switch response.status {
            case 200: seen[index].append(response.body)
            case 204: break  // its poll timed out (T): it polls again below
            default:
                throw ctx.fail("DL-1", expected: "200 or 204 to client \(index + 1)'s poll (\(publishers) messages at a time, B = \(ctx.clientBuffer))",
                               actual: "\(response.status)")
            }
            try await ctx.startPoll(clients[index].id, on: clients[index].connection)
        }

        for round in 1...rounds {
            let batch = (1...publishers).map { ctx.message("r\(round)p\($0)") }
            published += batch
            let owed = published.count
            try await withThrowingTaskGroup(of: Void.self) { group in
                for m in batch { group.addTask { try await ctx.publish(m) } }
                let deadline = ContinuousClock.now + ctx.patience
                while seen.contains(where: { $0.count < owed }), ContinuousClock.now < deadline {
                    guard let (index, event) = await ctx.firstAnswer(connections, within: deadline - .now) else { break }
                    try await take(index, event)
                }
                try await group.waitForAll()
            }
            if seen.contains(where: { $0.count < owed }) { break }  // judged below
        }
        // Anything that turns up now is a second copy.
        while let (index, event) = await ctx.firstAnswer(connections, within: ctx.settle) { try await take(index, event) }

        let roundOf = Dictionary(uniqueKeysWithValues: published.enumerated().map { ($0.element, $0.offset / publishers) })
        for (index, sequence) in seen.enumerated() {
            for m in published {
                let count = sequence.filter { $0 == m }.count
                try ctx.check(count == 1, "DL-1", expected: "'\(Transcript.escape(m, limit: 60))' exactly once at client \(index + 1)",
                              actual: "\(count) times")
            }
            try ctx.check(sequence.count == published.count, "DL-1", expected: "only the \(published.count) published messages at client \(index + 1)",
                          actual: "\(sequence.count) messages")
            // Rounds follow each other: every message of a round was published after every
            // message of the round before had been answered.
            let order = sequence.map { roundOf[$0]! }
            if let k = order.indices.dropFirst().first(where: { order[$0] < order[$0 - 1] }) {
                throw ctx.fail("DL-2", expected: "publish order at client \(index + 1): round \(order[k - 1] + 1)'s messages were all published after round \(order[k] + 1)'s",
                               actual: "'\(Transcript.escape(sequence[k], limit: 60))' after '\(Transcript.escape(sequence[k - 1], limit: 60))'")
            }
        }
        for index in seen.indices.dropFirst() {
            if let k = seen[0].indices.first(where: { seen[index][$0] != seen[0][$0] }) {
                throw ctx.fail("DL-2", expected: "the same order at every client (\(publishers) publishers at once, \(rounds) rounds)",
                               actual: "message \(k + 1): client 1 got '\(Transcript.escape(seen[0][k], limit: 60))', client \(index + 1) got '\(Transcript.escape(seen[index][k], limit: 60))'")
            }
        }
    }
}
