import GPollCore
import GPollWire
import Synchronization

/// Spec section 20: the stress tier, off unless asked for (`--stress`, need `stress`).
/// Each case loads the whole server, so it runs alone (exclusive), and evicts the
/// clients it registered before it ends. Its thousands of connections are not
/// recorded one by one: the case notes counts and the first failures.
enum StressCases {
    /// How many requests a stress case keeps in flight at once while it registers
    /// clients: enough to pile up work in the server, few enough for a listen backlog.
    static let inFlight = 2000
    /// How long one handshake may take while thousands are in flight, and a publish
    /// while it is offered to thousands of waiting polls.
    static let answerDeadline: Duration = .seconds(30)

    /// Registers `count` clients, each on its own connection, `inFlight` at a time,
    /// and leaves a poll of each waiting. A 503 (a client limit) makes the case
    /// inconclusive: the tier needs a server that takes `count` clients.
    static func registerWaiting(_ ctx: CaseContext, count: Int, requirement: String) async throws -> [(ClientID, WireConnection)] {
        var clients: [(ClientID, WireConnection)] = []
        clients.reserveCapacity(count)
        try await withThrowingTaskGroup(of: (ClientID, WireConnection).self) { group in
            var started = 0
            func add() {
                let before = started
                group.addTask {
                    let (c, event) = try await handshakeRetryingLostConnections(ctx)
                    if event.response?.status == 503 {
                        throw CaseStop.inconclusive("the server refused a handshake with 503 after about \(before) clients: the stress tier needs a client limit of at least \(count)")
                    }
                    let response = try ctx.expectStatus(event, 200, requirement: requirement, what: "a handshake")
                    guard case .success(let id) = HandshakeBody.decode(response.body) else {
                        throw ctx.fail(requirement, expected: "a handshake object with a valid id",
                                       actual: Transcript.escape(response.body, limit: 120))
                    }
                    try await ctx.startPoll(id, on: c)
                    return (id, c)
                }
                started += 1
            }
            while started < min(count, inFlight) { add() }
            while let client = try await group.next() {
                clients.append(client)
                if started < count { add() }
            }
        }
        ctx.note("\(clients.count) clients registered, each with a poll waiting")
        return clients
    }

    /// A handshake on a new connection, as a client makes it under load: a loaded server
    /// may be slow, not wrong (30 s for the answer), and a connection the kernel reset
    /// or closed before any answer (thousands of connects at once overflow a listen
    /// backlog) is tried again on a new one, up to three times, as a client would
    /// after a short backoff. No id was answered on such a connection, so ID-4 is not
    /// concerned; a fourth loss is returned to be judged.
    static func handshakeRetryingLostConnections(_ ctx: CaseContext) async throws -> (WireConnection, WireEvent) {
        var backoff = Duration.milliseconds(100)
        var attempt = 1
        while true {
            let c = try await ctx.connectUnrecorded()
            let event = try await ctx.get(clientID: "0", on: c, within: answerDeadline)
            if event.response != nil || attempt == 4 { return (c, event) }
            await c.close()
            try await Task.sleep(for: backoff)
            backoff *= 2
            attempt += 1
        }
    }

    /// Awaits `message` on every client's waiting poll, `inFlight` at a time; returns
    /// the ids that got something else, with what they got. `judgingPO1`: as in
    /// ``CaseContext/awaitMessage(_:on:text:within:judgingPO1:)``.
    static func collect(_ ctx: CaseContext, _ clients: [(ClientID, WireConnection)], expecting message: [UInt8],
                        within: Duration, judgingPO1: Bool) async throws -> [(ClientID, String)] {
        try await withThrowingTaskGroup(of: (ClientID, String)?.self) { group in
            var next = 0
            func add() {
                let (id, c) = clients[next]
                next += 1
                group.addTask {
                    let event = try await ctx.awaitMessage(id, on: c, within: within, judgingPO1: judgingPO1)
                    if let response = event.response, response.status == 200, response.body == message { return nil }
                    return (id, event.summary)
                }
            }
            while next < min(clients.count, inFlight) { add() }
            var wrong: [(ClientID, String)] = []
            while let outcome = try await group.next() {
                if let outcome { wrong.append(outcome) }
                if next < clients.count { add() }
            }
            return wrong
        }
    }

    /// Closes the case's connections' polls by evicting every idle client of the case:
    /// B + 1 publishes once no poll of theirs waits.
    static func evict(_ ctx: CaseContext, _ clients: [(ClientID, WireConnection)]) async throws {
        for (_, c) in clients { await c.close() }
        try await ctx.settleDown()
        try await LimitsCases.evictAll(ctx)
    }

    static func judgeAll(_ ctx: CaseContext, _ wrong: [(ClientID, String)], of count: Int, _ requirement: String, _ what: String) throws {
        guard let (id, got) = wrong.first else { return }
        throw ctx.fail(requirement, expected: "\(what) for all \(count) clients",
                       actual: "\(wrong.count) of \(count) did not get it; the first, \(id), got \(got)")
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("stress/001", scheduling: .exclusive, estimate: { _ in .seconds(10) }) { ctx in
            let count = 10_000
            let clients = try await registerWaiting(ctx, count: count, requirement: "HS-1")
            let distinct = Set(clients.map(\.0.description)).count
            if distinct != count {
                try await evict(ctx, clients)
                throw ctx.fail("ID-2", expected: "\(count) distinct ids", actual: "\(distinct) distinct ids")
            }
            let m = ctx.message()
            try await ctx.publish(m, within: answerDeadline)
            let wrong = try await collect(ctx, clients, expecting: m, within: ctx.patience * 4, judgingPO1: false)
            try await evict(ctx, clients)
            // A 404 means an id answered 200 that was not live (the original loses ~0.5%).
            try judgeAll(ctx, wrong, of: count, "ID-4", "every id answered 200 live at once, its poll given the message")
        },
        ConformanceCase("stress/002", scheduling: .exclusive, estimate: { _ in .seconds(3) }) { ctx in
            let count = 1_000
            let clients = try await registerWaiting(ctx, count: count, requirement: "HS-1")
            try await ctx.settleDown()
            let m = ctx.message()
            let start = ContinuousClock.now
            try await ctx.publish(m, within: answerDeadline)
            let wrong = try await collect(ctx, clients, expecting: m, within: ctx.patience, judgingPO1: true)
            ctx.note("\(count - wrong.count) of \(count) waiting polls answered \(ContinuousClock.now - start) after the publish began")
            try await evict(ctx, clients)
            try judgeAll(ctx, wrong, of: count, "PO-1", "the message on the waiting poll")
        },
        ConformanceCase("stress/003", scheduling: .exclusive, estimate: { _ in .seconds(8) }) { ctx in
            // More clients than a routine of the original holds (1,000), so clients in
            // different shards are compared; every message fits in B (need
            // client-buffer>=40), so no client may be evicted while it lags. 44,000
            // polls in all: a slow server finishes within the stress tier's time.
            let (count, publishers, perPublisher) = (1_100, 4, 10)
            var registered: [(ClientID, WireConnection)] = []
            for _ in 0..<count {
                let c = try await ctx.connectUnrecorded()
                registered.append((try await ctx.handshake(on: c, requirement: "HS-1"), c))
            }
            let clients = registered
            let batches = (0..<publishers).map { p in (0..<perPublisher).map { ctx.message("p\(p)-\($0)") } }
            // The storm: every publisher sends its messages one after another (so each
            // publisher's own messages have a publish order), all publishers at once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in batches { group.addTask { try await ctx.publish(all: batch) } }
                try await group.waitForAll()
            }
            let total = publishers * perPublisher
            ctx.note("\(publishers) publishers sent \(total) messages at once to \(count) clients")
            let sequences = try await withThrowingTaskGroup(of: (Int, [[UInt8]]).self) { group in
                var next = 0
                func add() {
                    let index = next
                    next += 1
                    group.addTask {
                        let (id, c) = clients[index]
                        var got: [[UInt8]] = []
                        for _ in 0..<total {
                            let event = try await ctx.poll(id, on: c)
                            guard let response = event.response, response.status == 200 else {
                                throw ctx.fail("DL-1", expected: "\(total) messages for \(id)",
                                               actual: "\(event.summary) after \(got.count)")
                            }
                            got.append(response.body)
                        }
                        return (index, got)
                    }
                }
                while next < min(clients.count, inFlight) { add() }
                var all = Array(repeating: [[UInt8]](), count: clients.count)
                while let (index, got) = try await group.next() {
                    all[index] = got
                    if next < clients.count { add() }
                }
                return all
            }
            try await evict(ctx, clients)
            let reference = sequences[0]
            try ctx.check(Set(reference).count == total && Set(reference) == Set(batches.joined()), "DL-1",
                          expected: "each of the \(total) messages exactly once", actual: "\(Set(reference).count) distinct")
            for batch in batches {
                let order = reference.filter { batch.contains($0) }
                try ctx.check(order == batch, "DL-2", expected: "each publisher's messages in the order it published them",
                              actual: "\(order.map { Transcript.escape($0, limit: 40) }.prefix(5)) ...")
            }
            if let index = sequences.firstIndex(where: { $0 != reference }) {
                let at = zip(sequences[index], reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0
                throw ctx.fail("DL-2", expected: "the same order for every client",
                               actual: "\(clients[index].0) differs from \(clients[0].0) at message \(at + 1): '\(Transcript.escape(sequences[index][at], limit: 40))' against '\(Transcript.escape(reference[at], limit: 40))'")
            }
        },
    ]
}
