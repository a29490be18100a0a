import GPollCore

/// Spec section 8: the 404 rules.
enum NotFoundCases {
    /// `R$U` with U changed by `mutate`.
    static func variant(_ id: ClientID, _ mutate: (String) -> String) -> String { "\(id.routine)$" + mutate(id.uuidText) }

    /// Canonical routine ids other than R.
    static func otherRoutines(_ r: UInt32) -> [String] {
        var out: [UInt32] = []
        if r < ClientID.maximumRoutine { out.append(r + 1) }
        out.append(r == 0 ? 1 : 0)
        if r != ClientID.maximumRoutine { out.append(ClientID.maximumRoutine) }
        return Array(Set(out.map { String($0) })).sorted()
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("notfound/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for value in ["abcdefghij", "abcdefghijk", id.uuidText, String(repeating: "x", count: 100)] {
                try await ctx.expectNotFound(value, on: c, "NF-1")
            }
        },
        ConformanceCase("notfound/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.expectNotFound("\(id.routine)$\(ctx.randomUUID())", on: c, "NF-2")
        },
        ConformanceCase("notfound/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.expectNotFound(variant(id) { $0.uppercased() }, on: c, "NF-2")
        },
        ConformanceCase("notfound/004") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for nibble: Character in ["1", "3", "5"] {
                try await ctx.expectNotFound(variant(id) { $0.replacing(at: 14, with: nibble) }, on: c, "NF-2")
            }
        },
        ConformanceCase("notfound/005") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for nibble: Character in ["0", "7", "c"] {
                try await ctx.expectNotFound(variant(id) { $0.replacing(at: 19, with: nibble) }, on: c, "NF-2")
            }
        },
        ConformanceCase("notfound/006") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let mutations: [(String) -> String] = [{ String($0.dropLast()) }, { String($0.dropLast(13)) }, { $0 + "a" }, { $0 + "0" }]
            for mutate in mutations { try await ctx.expectNotFound(variant(id, mutate), on: c, "NF-2") }
        },
        ConformanceCase("notfound/007") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for value in ["$" + ctx.randomUUID(), "$$$$$$$$$$", "0123456789$", id.uuidText + "$"] {
                try await ctx.expectNotFound(value, on: c, "NF-2")
            }
        },
        ConformanceCase("notfound/008") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            for routine in otherRoutines(id.routine) {
                try await ctx.expectNotFound("\(routine)$\(id.uuidText)", on: c, "NF-3")
            }
        },
        ConformanceCase("notfound/009") { ctx in
            let first = try await ctx.connect(.primary), second = try await ctx.connect(.second)
            let b = try await ctx.handshake(.second, on: second)
            try await ctx.expectNotFound(b.description, on: first, "NF-5")
            let a = try await ctx.handshake(.primary, on: first)
            try await ctx.expectNotFound(a.description, on: second, "NF-5")
        },
        ConformanceCase("notfound/010") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.publish(all: ctx.messages(ctx.clientBuffer + 1))
            try await ctx.settleDown()
            try await ctx.expectNotFound(id.description, on: c, "NF-4")
            try await ctx.expectNotFound(id.description, on: c, "BU-4")
        },
        ConformanceCase("notfound/011") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // Two queued messages (one when B is 1) that the 404s must leave in place.
            let queued = ctx.messages(min(2, ctx.clientBuffer))
            try await ctx.publish(all: queued)
            let other = otherRoutines(id.routine)[0]
            for value in [variant(id) { $0.uppercased() }, "\(other)$\(id.uuidText)", variant(id) { String($0.dropLast()) }, id.uuidText] {
                try await ctx.expectNotFound(value, on: c, "NF-6")
            }
            try await ctx.expectMessages(id, on: c, queued, "NF-6")
        },
        ConformanceCase("notfound/012") { ctx in
            let waiting = try await ctx.connect()
            let id = try await ctx.handshake(on: waiting)
            try await ctx.startPoll(id, on: waiting)
            let c = try await ctx.connect()
            try await ctx.expectNotFound(variant(id) { $0.uppercased() }, on: c, "NF-6")
            try await ctx.expectNotFound("\(otherRoutines(id.routine)[0])$\(id.uuidText)", on: c, "NF-6")
            try await ctx.expectQuiet(waiting, requirement: "NF-6", what: "the waiting poll")
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: waiting), m, requirement: "NF-6")
        },
        ConformanceCase("notfound/013") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let (r, u) = (id.routineText, id.uuidText)
            for value in ["0\(r)$\(u)", "%2B\(r)$\(u)", "+\(r)$\(u)", "x$\(u)", "-0$\(u)", "$\(u)"] {
                try await ctx.expectNotFound(value, on: c, "NF-7")
            }
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "NF-6")
        },
        ConformanceCase("notfound/014") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            for value in ["\(id)$", "\(id)$junk", "\(id)%20"] { try await ctx.expectNotFound(value, on: c, "NF-7") }
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "NF-6")
        },
    ] + gpoll11

    /// gpoll/1.1: what `GPoll-Reason` may reveal (NF-10).
    static let gpoll11: [ConformanceCase] = [
        ConformanceCase("notfound/015", skipReason: { settings in
            settings.probed?.sendsReasons == true ? nil : "the server sends no GPoll-Reason on a 404 (NF-9 is optional)"
        }) { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let last = id.uuidText.last == "0" ? "1" : "0"
            let guesses = [("a guessed id", "0$\(ctx.randomUUID())")]
                + otherRoutines(id.routine).map { ("the live uuid under routine \($0)", "\($0)$\(id.uuidText)") }
                + [("the live id with its last digit changed", variant(id) { String($0.dropLast()) + last }),
                   ("the live id with a byte appended", id.description + "0")]
            for (what, value) in guesses {
                let event = try await ctx.get(clientID: value, on: await c.isClosed ? try await ctx.connect() : c)
                let response = try ctx.expectStatus(event, 404, requirement: "NF-2", what: "\(what) (\(value))")
                if let reason = response.value(GPollHeaderName.reason) {
                    try ctx.check(reason == GPollReason.unknown.rawValue, "NF-10",
                                  expected: "GPoll-Reason: unknown for \(what)", actual: "GPoll-Reason: \(reason)")
                }
            }
        },
    ]
}
