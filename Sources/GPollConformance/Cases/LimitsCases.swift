import GPollCore
import GPollWire
import Synchronization

/// Spec section 14: resource limits.
enum LimitsCases {
    /// A request line whose target is `length` bytes long (an over-long query value).
    static func longTarget(_ ctx: CaseContext, length: Int) -> [UInt8] {
        let base = ctx.target(query: "pad=")
        return base + Array(repeating: UInt8(ascii: "a"), count: max(0, length - base.count))
    }

    static func raw(_ ctx: CaseContext, target: [UInt8]) -> [UInt8] {
        Array("GET ".utf8) + target + Array(" HTTP/1.1\r\nHost: \(ctx.settings.pollURL.hostHeader)\r\n\r\n".utf8)
    }

    /// Sends `limit` handshakes, on eight connections at once so that the server fills
    /// faster than idle expiry empties it, stopping at the first refusal; returns it.
    static func fill(_ ctx: CaseContext, limit: Int) async throws -> (WireResponse, Int)? {
        let workers = 8
        let refused = RefusalBox()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var c = try await ctx.connect()
                    for n in stride(from: worker + 1, through: limit, by: workers) {
                        if refused.withLock({ $0 != nil }) { return }
                        if await c.isClosed { c = try await ctx.connect() }
                        let event = try await ctx.get(clientID: "0", on: c)
                        guard let response = event.response else {
                            throw ctx.fail("TR-1", expected: "an answer to handshake \(n)", actual: event.summary)
                        }
                        if response.status != 200 {
                            refused.withLock { if $0 == nil { $0 = (response, n) } }
                            return
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return refused.withLock { $0 }
    }

    final class RefusalBox: Sendable {
        private let value = Mutex<(WireResponse, Int)?>(nil)
        func withLock<T>(_ body: (inout (WireResponse, Int)?) -> T) -> T { value.withLock { body(&$0) } }
    }

    /// Evicts every client that does not poll: B + 1 publishes.
    static func evictAll(_ ctx: CaseContext) async throws {
        ctx.note("evicting the clients this case registered")
        try await ctx.publish(all: ctx.messages(ctx.clientBuffer + 1))
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("limits/001", estimate: { ($0.idleExpiry ?? .zero) + .seconds(1) }) { ctx in
            let id = try await ctx.handshake()
            try await ctx.wait(ctx.settings.idleExpiry! + .seconds(1))
            try await ctx.expectNotFound(id.description, on: try await ctx.connect(), "RL-1")
        },
        ConformanceCase("limits/002", estimate: { ($0.idleExpiry ?? .zero) * 2.7 + .milliseconds(100) }) { ctx in
            let e = ctx.settings.idleExpiry!
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.wait(e * 0.6)
            try await ctx.startPoll(id, on: c)
            let m1 = ctx.message()
            try await ctx.publish(m1)
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), m1, requirement: "RL-2")
            try await ctx.wait(e * 0.6)
            try await ctx.startPoll(id, on: c)
            let until = ContinuousClock.now + e * 1.5
            while ContinuousClock.now < until {
                let event = try await ctx.answer(on: c, within: until - ContinuousClock.now)
                if case .timedOut = event { break }
                guard let response = event.response, response.status == 204 else {
                    throw ctx.fail("RL-2", expected: "the poll to stay in flight (or 204)", actual: event.summary)
                }
                try await ctx.startPoll(id, on: c)
            }
            let m2 = ctx.message()
            try await ctx.publish(m2)
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), m2, requirement: "RL-2")
        },
        ConformanceCase("limits/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let suffix = "&client-id=\(id)"
            let base = ctx.target(query: "pad=")
            let pad = String(repeating: "a", count: 1024 - base.count - suffix.utf8.count)
            let target = ctx.target(query: "pad=\(pad)\(suffix)")
            try ctx.check(target.count == 1024, nil, expected: "a 1,024-byte target", actual: "\(target.count)")
            try ctx.expectMessage(try await ctx.send(WireRequest(target: target), on: c, within: ctx.patience), m, requirement: "RL-3")
            let shake = ctx.target(query: "pad=\(pad)\(String(repeating: "a", count: suffix.utf8.count - "&client-id=0".utf8.count))&client-id=0")
            try ctx.expectHandshakeAnswer(try await ctx.send(WireRequest(target: shake), on: c, within: ctx.prompt), "RL-3",
                                          what: "a handshake with a 1,024-byte target")
        },
        ConformanceCase("limits/004") { ctx in
            let c = try await ctx.connect()
            try await c.sendRaw(raw(ctx, target: longTarget(ctx, length: 70_000)))
            try ctx.expectStatus(await c.next(within: ctx.prompt), 414, requirement: "RL-4", what: "a 70,000-byte request target")
        },
        ConformanceCase("limits/005") { ctx in
            let garbage = try await ctx.connect()
            try await garbage.sendRaw(Array("\u{1}\u{2}garbage \u{7F}\r\n\r\n".utf8) + [0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A])
            try ctx.expectStatus(await garbage.next(within: ctx.prompt), 400, requirement: "RL-5", what: "a garbage request line")
            if case .timedOut = await garbage.next(within: ctx.prompt) {
                throw ctx.fail("RL-5", expected: "the connection closed after the 400", actual: "still open")
            }
            let colonless = try await ctx.connect()
            let target = String(decoding: ctx.target(clientID: "0"), as: UTF8.self)
            try await colonless.sendRaw(Array("GET \(target) HTTP/1.1\r\nHost: \(ctx.settings.pollURL.hostHeader)\r\nNoColonHere\r\n\r\n".utf8))
            try ctx.expectStatus(await colonless.next(within: ctx.prompt), 400, requirement: "RL-5", what: "a header line without a colon")
            if case .timedOut = await colonless.next(within: ctx.prompt) {
                throw ctx.fail("RL-5", expected: "the connection closed after the 400", actual: "still open")
            }
        },
        ConformanceCase("limits/006") { ctx in
            let waiting = try await ctx.connect()
            let id = try await ctx.handshake(on: waiting)
            try await ctx.startPoll(id, on: waiting)
            let long = try await ctx.connect()
            try? await long.sendRaw(raw(ctx, target: longTarget(ctx, length: 70_000)))
            let garbage = try await ctx.connect()
            try? await garbage.sendRaw(Array("\u{1}\u{2}garbage\r\n\r\n".utf8))
            let half = try await ctx.connect()
            try? await half.sendRaw(Array("GET \(String(decoding: ctx.target(clientID: "0"), as: UTF8.self)) HTTP/1.1\r\nHo".utf8))
            await half.close()
            _ = await long.next(within: ctx.settle)
            _ = await garbage.next(within: ctx.settle)
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: waiting), m, requirement: "RL-6")
            try await ctx.expectHandshake("0", on: try await ctx.connect(), "RL-6")
        },
        ConformanceCase("transport/013", scheduling: .exclusive) { ctx in
            // Filed with the limits cases: it fills the server, as limits/007 does.
            let limit = ctx.settings.maxClients!
            let refusal = try await fill(ctx, limit: limit + 1)
            try await evictAll(ctx)
            guard let (response, n) = refusal, response.status == 503 else {
                ctx.note("no handshake was answered 503 at the client limit: limits/007 judges that; nothing to check here")
                return
            }
            let cacheControl = response.values("Cache-Control").joined(separator: ", ")
            try ctx.check(cacheControl.lowercased().contains("no-store"), "TR-6",
                          expected: "Cache-Control: no-store on the 503 at handshake \(n)", actual: cacheControl.isEmpty ? "no Cache-Control" : cacheControl)
        },
        ConformanceCase("limits/007", scheduling: .exclusive) { ctx in
            let limit = ctx.settings.maxClients!
            let refusal = try await fill(ctx, limit: limit + 1)
            guard let (response, n) = refusal else {
                try await evictAll(ctx)
                throw ctx.fail("RL-7", expected: "a 503 within \(limit + 1) handshakes", actual: "\(limit + 1) times 200")
            }
            try await evictAll(ctx)
            try ctx.check(response.status == 503, "RL-7", expected: "503 at the client limit", actual: "\(response.status) at handshake \(n)")
            try ctx.check(response.value("Retry-After") != nil, "RL-7", expected: "a Retry-After header on the 503", actual: "none")
            if case .success(let text) = HandshakeBody.decodeClientIDText(response.body) {
                throw ctx.fail("RL-7", expected: "no id in the 503", actual: "client-id \(text)")
            }
        },
        ConformanceCase("limits/008", scheduling: .exclusive) { ctx in
            let c = try await ctx.connect()
            let a = try await ctx.handshake(on: c)
            _ = try await fill(ctx, limit: ctx.settings.maxClients! + 1)
            try await ctx.startPoll(a, on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let event = try await ctx.awaitMessage(a, on: c)
            try await evictAll(ctx)
            try ctx.expectMessage(event, m, requirement: "RL-8")
        },
    ]
}

// MARK: - gpoll/1.1 cases of section 14

extension LimitsCases {
    static let gpoll11: [ConformanceCase] = [
        ConformanceCase("limits/009", estimate: { _ in .seconds(1) }) { ctx in
            let waiting = try await ctx.connect()
            let a = try await ctx.handshake(on: waiting)
            try await ctx.startPoll(a, on: waiting)
            // The request line at once, then the header bytes one per 200 ms, for longer
            // than the two checks below may take (a server that waits for this head before
            // serving anyone else answers them late or not at all). The case stops sending
            // when it ends; a server may cut such a slow request short (it is not judged).
            let interval = Duration.milliseconds(200)
            let span = ctx.prompt + ctx.patience + .seconds(1)
            let header = Array(("X-Slow: " + String(repeating: "s", count: Int(span / interval)) + "\r\n\r\n").utf8)
            let slow = try await ctx.connect()
            let line = "GET \(String(decoding: ctx.target(clientID: "0"), as: UTF8.self)) HTTP/1.1\r\nHost: \(ctx.settings.pollURL.hostHeader)\r\n"
            try await slow.sendRaw(Array(line.utf8))
            ctx.note("sending the rest of this head one byte every 200 ms: \(Transcript.escape(header, limit: 40))...")
            let dribble = Task {
                for byte in header {
                    try await Task.sleep(for: interval)
                    try await slow.sendRaw([byte])
                }
            }
            defer { dribble.cancel() }
            try await Task.sleep(for: interval * 2 + .milliseconds(50))  // the server is in the middle of that head
            try ctx.expectHandshakeAnswer(try await ctx.get(clientID: "0", on: try await ctx.connect()), "RL-6",
                                          what: "a handshake on another connection while one sends its head a byte per 200 ms")
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.awaitMessage(a, on: waiting), m, requirement: "RL-6")
        },
    ]
}
