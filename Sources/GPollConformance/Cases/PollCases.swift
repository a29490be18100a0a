import GPollCore

/// Spec section 7: poll.
enum PollCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("poll/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.startPoll(id, on: c)
            // The poll must be waiting, not merely queued behind the publish: 200 ms is Spec's figure.
            try await Task.sleep(for: .milliseconds(200))
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(await c.next(within: ctx.patience), m, requirement: "PO-1")
        },
        ConformanceCase("poll/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let (m1, m2) = (ctx.message(), ctx.message())
            try await ctx.publish(all: [m1, m2])
            try await ctx.expectMessages(id, on: c, [m1, m2], "PO-2")
        },
        ConformanceCase("poll/003", estimate: { _ in .seconds(1) }) { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let start = ContinuousClock.now
            let event = try await ctx.poll(id, on: c, within: .seconds(1))
            let waited = ContinuousClock.now - start
            switch event {
            case .timedOut: return
            case .response(let r) where r.status == 204:
                if let t = ctx.settings.pollTimeout, t < .seconds(1), waited >= t - .milliseconds(100) { return }
                throw ctx.fail("PO-3", expected: "the poll to wait (a 204 only after T)", actual: "204 after \(waited)")
            default:
                throw ctx.fail("PO-3", expected: "the poll to wait with nothing to deliver", actual: "\(event.summary) after \(waited)")
            }
        },
    ]
}
