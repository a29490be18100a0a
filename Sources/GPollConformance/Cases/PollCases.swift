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
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), m, requirement: "PO-1")
        },
        ConformanceCase("poll/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let (m1, m2) = (ctx.message(), ctx.message())
            if ctx.clientBuffer >= 2 {
                // Two queued messages: a server that batches its queue shows it here.
                try await ctx.publish(all: [m1, m2])
                try await ctx.expectMessages(id, on: c, [m1, m2], "PO-2")
            } else {
                // B = 1 holds one queued message: the first goes to a waiting poll, the
                // second waits in the queue; each answer still holds exactly one.
                try await ctx.startPoll(id, on: c)
                try await ctx.expectQuiet(c, requirement: "PO-3", what: "a poll with nothing to deliver")
                try await ctx.publish(all: [m1, m2])
                try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), m1, requirement: "PO-2")
                try ctx.expectMessage(try await ctx.poll(id, on: c), m2, requirement: "PO-2")
            }
        },
        ConformanceCase("poll/003", estimate: { _ in .seconds(1) }) { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // Watch one second, but never into the window where the poll's own timeout
            // may rightly answer 204: T - 0.1 s (Spec §12), T being at least 1 s when it
            // is not 0 or unknown (§16.2), so the watch never races the server's timer.
            let window: Duration = ctx.settings.pollTimeout == .zero
                ? .seconds(1) : min(.seconds(1), (ctx.settings.pollTimeout ?? .seconds(1)) - .milliseconds(100))
            let start = ContinuousClock.now
            let event = try await ctx.poll(id, on: c, within: window)
            let waited = ContinuousClock.now - start
            switch event {
            case .timedOut: return
            case .response(let r) where r.status == 204:
                throw ctx.fail("PO-3", expected: "the poll to wait (a 204 only after T - 0.1 s)", actual: "204 after \(waited)")
            default:
                throw ctx.fail("PO-3", expected: "the poll to wait with nothing to deliver", actual: "\(event.summary) after \(waited)")
            }
        },
    ]
}
