import GPollCore

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
