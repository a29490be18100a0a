import Foundation
import GPollCore
import GPollWire

/// Spec section 18: acknowledged delivery (the `ack` extension). Every case works at
/// any B (1 included) by handing each message to a poll that already waits, or
/// that acknowledges what came before, so a client never holds more than it must.
enum AckCases {
    /// A poll target for `id` with `ack=<ack>` (nil: no ack item, a gpoll/1 poll).
    static func target(_ ctx: CaseContext, _ id: ClientID, ack: String?) -> [UInt8] {
        ctx.target(query: "client-id=\(id)" + (ack.map { "&ack=\($0)" } ?? ""))
    }

    /// Sends a poll with `ack` and gives it `settle` to start waiting. A 204 in that
    /// time (a short T) is answered by polling again, as a client would. Returns an
    /// answer that came instead of waiting (a message, say), or nil if the poll waits.
    static func park(_ ctx: CaseContext, _ id: ClientID, ack: UInt64?, on c: WireConnection) async throws -> WireEvent? {
        for _ in 0..<5 {
            try await send(ctx, id, ack: ack, on: c)
            let event = await c.next(within: ctx.settle)
            if case .timedOut = event { return nil }
            if event.response?.status == 204 { continue }
            return event
        }
        return nil
    }

    static func send(_ ctx: CaseContext, _ id: ClientID, ack: UInt64?, on c: WireConnection) async throws {
        do { try await c.send(WireRequest(target: target(ctx, id, ack: ack.map(String.init)))) } catch {
            throw CaseStop.couldNotRun("\(error)")
        }
    }

    /// The answer a poll (already sent, or `early`) is owed: a message. A correct 204
    /// (T passed first) is answered by polling again with the same `ack`, within `patience`.
    static func awaitMessage(_ ctx: CaseContext, _ id: ClientID, ack: UInt64?, on c: WireConnection,
                             early: WireEvent? = nil, what: String) async throws -> WireResponse {
        let deadline = ContinuousClock.now + ctx.patience
        var event: WireEvent
        if let early { event = early } else { event = await c.next(within: ctx.patience) }
        while event.response?.status == 204, ContinuousClock.now < deadline {
            try await send(ctx, id, ack: ack, on: c)
            event = await c.next(within: deadline - ContinuousClock.now)
        }
        return try ctx.expectStatus(event, 200, requirement: nil, what: what)
    }

    /// Polls with `ack` for a message that is already there (or, after a 204, arrives).
    static func take(_ ctx: CaseContext, _ id: ClientID, ack: UInt64?, on c: WireConnection, what: String) async throws -> WireResponse {
        try await send(ctx, id, ack: ack, on: c)
        return try await awaitMessage(ctx, id, ack: ack, on: c, what: what)
    }

    /// Parks a poll with `ack`, publishes `message`, and returns the answer.
    static func deliver(_ ctx: CaseContext, _ message: [UInt8], to id: ClientID, ack: UInt64?, on c: WireConnection) async throws -> WireResponse {
        let early = try await park(ctx, id, ack: ack, on: c)
        if early == nil { try await ctx.publish(message) }
        return try await awaitMessage(ctx, id, ack: ack, on: c, early: early,
                                      what: "a poll with ack=\(ack.map(String.init) ?? "(none)") owed '\(Transcript.escape(message, limit: 60))'")
    }

    /// The `GPoll-Sequence` of an answer, as a number; nil if absent or not a number.
    static func sequence(_ response: WireResponse) -> UInt64? {
        response.value(GPollHeaderName.sequence).flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Expects `response` to be `message` with sequence number `expected`.
    static func expect(_ ctx: CaseContext, _ response: WireResponse, _ message: [UInt8], sequence expected: UInt64, _ requirement: String) throws {
        try ctx.check(response.body == message, requirement,
                      expected: "the message '\(Transcript.escape(message, limit: 60))'",
                      actual: "'\(Transcript.escape(response.body, limit: 60))'")
        let header = response.value(GPollHeaderName.sequence)
        try ctx.check(sequence(response) == expected, requirement,
                      expected: "\(GPollHeaderName.sequence): \(expected) on '\(Transcript.escape(message, limit: 60))'",
                      actual: header.map { "\(GPollHeaderName.sequence): \($0)" } ?? "no \(GPollHeaderName.sequence) header")
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("ack/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for n in UInt64(1)...3 {
                let m = ctx.message()
                try expect(ctx, try await deliver(ctx, m, to: id, ack: n - 1, on: c), m, sequence: n, "AK-1")
            }
        },
        ConformanceCase("ack/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m1 = ctx.message()
            try expect(ctx, try await deliver(ctx, m1, to: id, ack: 0, on: c), m1, sequence: 1, "AK-1")
            // The answer was "lost": the client asks again with the same ack, here and on a new connection.
            try expect(ctx, try await take(ctx, id, ack: 0, on: c, what: "a repeated poll with ack=0"), m1, sequence: 1, "AK-2")
            let other = try await ctx.connect()
            try expect(ctx, try await take(ctx, id, ack: 0, on: other, what: "a repeated poll with ack=0 on a new connection"), m1, sequence: 1, "AK-2")
            let m2 = ctx.message()
            try expect(ctx, try await deliver(ctx, m2, to: id, ack: 1, on: other), m2, sequence: 2, "AK-2")
        },
        ConformanceCase("ack/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let (m1, m2, m3) = (ctx.message(), ctx.message(), ctx.message())
            try expect(ctx, try await deliver(ctx, m1, to: id, ack: 0, on: c), m1, sequence: 1, "AK-1")
            try expect(ctx, try await deliver(ctx, m2, to: id, ack: 1, on: c), m2, sequence: 2, "AK-1")
            // Everything is acknowledged: the poll must wait, not hand m1 or m2 out again.
            if let early = try await park(ctx, id, ack: 2, on: c) {
                throw ctx.fail("AK-3", expected: "the poll with ack=2 to wait (1 and 2 acknowledged, nothing newer)", actual: early.summary)
            }
            try await ctx.publish(m3)
            let third = try await awaitMessage(ctx, id, ack: 2, on: c, what: "the poll with ack=2 owed the third message")
            try expect(ctx, third, m3, sequence: 3, "AK-3")
            // A late poll with an older ack must not bring back what ack=2 acknowledged.
            try await send(ctx, id, ack: 1, on: c)
            let late = await c.next(within: ctx.settle)
            if let response = late.response, response.status == 200 {
                try ctx.check(response.body != m1 && response.body != m2 && (sequence(response) ?? 3) > 2, "AK-3",
                              expected: "never message 1 or 2 again after ack=2 (a late ack=1 may get 3 again, or wait)",
                              actual: "'\(Transcript.escape(response.body, limit: 60))' with \(response.value(GPollHeaderName.sequence) ?? "no sequence")")
            }
        },
        ConformanceCase("ack/004") { ctx in
            let b = UInt64(ctx.clientBuffer)
            let c = try await ctx.connect()
            let holding = try await ctx.handshake(on: c)
            let acking = try await ctx.handshake(on: c)
            let y = try await ctx.connect()
            // Message 1 is handed to both and stays unacknowledged.
            let early = (try await park(ctx, holding, ack: 0, on: c), try await park(ctx, acking, ack: 0, on: y))
            let m1 = ctx.message()
            try await ctx.publish(m1)
            try expect(ctx, try await awaitMessage(ctx, holding, ack: 0, on: c, early: early.0, what: "message 1"), m1, sequence: 1, "AK-1")
            try expect(ctx, try await awaitMessage(ctx, acking, ack: 0, on: y, early: early.1, what: "message 1"), m1, sequence: 1, "AK-1")
            // B-1 more: `holding` now holds B (one handed out, unacknowledged, and B-1 queued).
            let more = ctx.messages(Int(b) - 1)
            try await ctx.publish(all: more)
            // `acking` acknowledges message 1 and takes message 2 (or, at B = 1, waits): it holds B-1.
            let next = try await park(ctx, acking, ack: 1, on: y)
            if b > 1 {
                let response = try await awaitMessage(ctx, acking, ack: 1, on: y, early: next, what: "message 2 after ack=1")
                try expect(ctx, response, more[0], sequence: 2, "AK-4")
            } else if let next {
                throw ctx.fail("AK-3", expected: "the poll with ack=1 to wait", actual: next.summary)
            }
            let last = ctx.message()
            try await ctx.publish(last)  // the (B+1)-th message for `holding`: evicted (AK-4)
            let gone = try await ctx.get(query: "client-id=\(holding)&ack=1", on: try await ctx.connect())
            try ctx.check(gone.response?.status == 404, "AK-4",
                          expected: "404 for a client that held B = \(b) messages (1 unacknowledged) when another was published",
                          actual: gone.summary)
            // `acking` stayed live: it gets messages 3...B+1 (B = 1: message 2, on its waiting poll).
            let owed = Array(more.dropFirst()) + [last]
            for (offset, message) in owed.enumerated() {
                let sequence = UInt64(offset) + (b > 1 ? 3 : 2)
                let response: WireResponse
                if b == 1 {
                    response = try await awaitMessage(ctx, acking, ack: 1, on: y, what: "the waiting poll owed message 2")
                } else {
                    response = try await take(ctx, acking, ack: sequence - 1, on: y, what: "message \(sequence)")
                }
                try expect(ctx, response, message, sequence: sequence, "AK-4")
            }
        },
        ConformanceCase("ack/005") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let (m1, m2) = (ctx.message(), ctx.message())
            try expect(ctx, try await deliver(ctx, m1, to: id, ack: 0, on: c), m1, sequence: 1, "AK-1")
            // A gpoll/1 poll (no ack) acknowledges message 1: it must not get it again.
            if let early = try await park(ctx, id, ack: nil, on: c) {
                throw ctx.fail("AK-5", expected: "a poll without ack to wait (it acknowledges message 1)", actual: early.summary)
            }
            try await ctx.publish(m2)
            let second = try await awaitMessage(ctx, id, ack: nil, on: c, what: "the poll without ack owed message 2")
            try expect(ctx, second, m2, sequence: 2, "AK-5")
            if let early = try await park(ctx, id, ack: 2, on: c) {
                throw ctx.fail("AK-5", expected: "the poll with ack=2 to wait", actual: early.summary)
            }
        },
        ConformanceCase("ack/006") { ctx in
            var c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for bad in ["x", "-1", "", "1.0", "0x1", String(repeating: "1", count: 21), "1"] {
                let what = bad == "1" ? "ack=1 before anything was delivered" : "ack=\(bad)"
                // A server may close the connection after a 400.
                if await c.isClosed { c = try await ctx.connect() }
                let event = try await ctx.send(WireRequest(target: target(ctx, id, ack: bad)), on: c, within: ctx.prompt)
                try ctx.expectStatus(event, 400, requirement: "AK-6", what: what)
            }
        },
    ]
}
