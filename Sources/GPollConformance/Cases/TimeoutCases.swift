import GPollCore
import GPollWire

/// Spec section 12: poll timeout; section 13: disconnects.
enum TimeoutCases {
    /// Polls and waits for the 204 that T owes, up to T + 1.5 s.
    static func idlePoll(_ ctx: CaseContext, _ id: ClientID, on c: WireConnection) async throws -> (WireEvent, Duration) {
        let t = ctx.settings.pollTimeout!
        let start = ContinuousClock.now
        let event = try await ctx.poll(id, on: c, within: t + .milliseconds(1500))
        return (event, ContinuousClock.now - start)
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("timeout/001", estimate: { $0.pollTimeout ?? .zero }) { ctx in
            let t = ctx.settings.pollTimeout!
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let (event, waited) = try await idlePoll(ctx, id, on: c)
            let response = try ctx.expectStatus(event, 204, requirement: "TO-1", what: "a poll idle for T")
            try ctx.check(waited >= t - .milliseconds(100) && waited <= t + .seconds(1), "TO-1",
                          expected: "the 204 between T - 0.1 s and T + 1 s (T = \(t))", actual: "after \(waited)")
            try ctx.check(response.body.isEmpty, "TO-1", expected: "an empty body", actual: "\(response.body.count) bytes")
        },
        ConformanceCase("timeout/002", estimate: { ($0.pollTimeout ?? .zero) + .milliseconds(100) }) { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let (event, _) = try await idlePoll(ctx, id, on: c)
            try ctx.expectStatus(event, 204, requirement: "TO-1", what: "a poll idle for T")
            // After the 204, every message still arrives, in order; one at a time, B may be 1.
            for m in [ctx.message(), ctx.message()] {
                try await ctx.publish(m)
                try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "TO-2")
            }
        },
    ]
}

enum DisconnectCases {
    /// Lets a poll wait 500 ms, ends its connection, publishes x and y, expects both.
    static func noLoss(_ ctx: CaseContext, reset: Bool) async throws {
        let id = try await ctx.handshake()
        let c = try await ctx.connect()
        try await ctx.startPoll(id, on: c)
        try await ctx.expectQuiet(c, requirement: "PO-3", what: "a poll with nothing to deliver")
        try await Task.sleep(for: .milliseconds(500) - ctx.settle)
        if reset { await c.abortWithReset() } else { await c.close() }
        // Spec's 300 ms for the server to notice the close.
        try await Task.sleep(for: .milliseconds(300))
        // x is the message the closed poll must not take; one at a time, B may be 1.
        let next = try await ctx.connect()
        for m in [ctx.message("x"), ctx.message("y")] {
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.poll(id, on: next), m, requirement: "DC-1")
        }
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("disconnect/001", estimate: { .milliseconds(850) + $0.settle }) { ctx in try await noLoss(ctx, reset: false) },
        ConformanceCase("disconnect/002", estimate: { .milliseconds(850) + $0.settle }) { ctx in try await noLoss(ctx, reset: true) },
        ConformanceCase("disconnect/003", estimate: { .seconds(1) + $0.settle * 3 }) { ctx in
            let id = try await ctx.handshake()
            let first = try await ctx.connect()
            try await ctx.startPoll(id, on: first)
            try await ctx.expectQuiet(first, requirement: "PO-3", what: "a poll with nothing to deliver")
            await first.abortWithReset()
            let second = try await ctx.connect()
            try await ctx.startPoll(id, on: second)
            // The server may read the aborted poll only now (a loaded machine: its event
            // loop was behind), after this one: newest poll wins (CP-2) then answers this
            // one 204. That is no fault; the poll after it must wait.
            let early = await second.next(within: ctx.settle)
            if early.response?.status == 204 {
                ctx.note("a 204: the server read the aborted poll after this one and kept the newer (CP-2); polling again")
                try await ctx.startPoll(id, on: second)
                try await ctx.expectQuiet(second, requirement: "PO-3", what: "a poll with nothing to deliver")
            } else if case .timedOut = early {} else {
                throw ctx.fail("PO-3", expected: "nothing yet for a poll with nothing to deliver", actual: early.summary)
            }
            await second.close()
            try await ctx.settleDown()
            let event = try await ctx.poll(id, on: try await ctx.connect(), within: .seconds(1))
            try ctx.check(event.response?.status != 404, "BU-6", expected: "the client still live after closed polls",
                          actual: "404")
        },
    ]
}
