import GPollCore
import GPollWire

/// Spec section 5: handshake.
enum HandshakeCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("handshake/001") { ctx in
            let c = try await ctx.connect()
            try ctx.expectHandshakeAnswer(try await ctx.get(query: nil, on: c), "HS-1", what: "no query")
            try ctx.expectHandshakeAnswer(try await ctx.get(query: "x=1", on: c), "HS-1", what: "?x=1")
            try await ctx.expectHandshake("", on: c, "HS-1")
        },
        ConformanceCase("handshake/002") { ctx in
            try await ctx.expectHandshake("0", on: try await ctx.connect(), "HS-1")
        },
        ConformanceCase("handshake/003") { ctx in
            let c = try await ctx.connect()
            var seen: Set<String> = []
            for value in ["123456789", "0$0000000", "$$$$$$$$$", "abcdefghi", "0$1234567"] {
                let text = try await ctx.expectHandshake(value, on: c, "HS-2")
                try ctx.check(seen.insert(text).inserted, "ID-2", expected: "a new id for client-id=\(value)", actual: "\(text) again")
            }
        },
        ConformanceCase("handshake/004") { ctx in
            let c = try await ctx.connect()
            try await ctx.expectNotFound("0123456789", on: c, "HS-2")
            try await ctx.expectNotFound("0$12345678", on: c, "HS-2")
        },
        ConformanceCase("handshake/005") { ctx in
            let c = try await ctx.connect()
            let a = try await ctx.handshake(on: c)
            let second = await c.isClosed ? try await ctx.connect() : c
            let b = try await ctx.handshake(on: second)
            try ctx.check(a != b, "ID-2", expected: "two different ids", actual: "\(a) twice")
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.poll(a, on: try await ctx.connect()), m, requirement: "HS-1")
            try ctx.expectMessage(try await ctx.poll(b, on: try await ctx.connect()), m, requirement: "HS-1")
        },
        ConformanceCase("handshake/006") { ctx in
            let response = try ctx.expectStatus(try await ctx.get(clientID: "0", on: try await ctx.connect()), 200,
                                                requirement: "HS-1", what: "a handshake")
            try ctx.check(response.mediaType == "application/json", "HS-3", expected: "Content-Type: application/json",
                          actual: response.value("Content-Type").map { "Content-Type: \($0)" } ?? "no Content-Type")
        },
    ] + gpoll11

    /// gpoll/1.1: handshake/007 (exactly `{"client-id":"…"}`) is retired, since the
    /// object may now advertise settings; handshake/008 keeps what old clients rely on.
    static let gpoll11: [ConformanceCase] = [
        ConformanceCase("handshake/008") { ctx in
            let event = try await ctx.get(clientID: "0", on: try await ctx.connect())
            let text = try ctx.expectHandshakeAnswer(event, "HS-1", what: "a handshake")
            let body = event.response!.body
            let prefix = Array((#"{"client-id":""# + text + #"""#).utf8)
            let shown = Transcript.escape(body, limit: 200)
            try ctx.check(body.starts(with: prefix) && [UInt8(ascii: ","), UInt8(ascii: "}")].contains(body.dropFirst(prefix.count).first ?? 0),
                          "HS-6", expected: #"the body to begin with {"client-id":""# + text + #"" and then , or }"#, actual: shown)
            try ctx.check(isCompactJSON(body), "HS-6", expected: "compact JSON: no whitespace between tokens", actual: shown)
        },
    ]

    /// True when no whitespace stands outside a JSON string (the body is known to be JSON).
    static func isCompactJSON(_ body: [UInt8]) -> Bool {
        var inString = false, escaped = false
        for byte in body {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if [0x20, 0x09, 0x0A, 0x0D].contains(byte) {
                return false
            }
        }
        return true
    }
}

/// Spec section 6: client-id grammar.
enum GrammarCases {
    /// Handshakes on `connections` keep-alive connections at once, `perConnection` each.
    static func ids(_ ctx: CaseContext, connections: Int, perConnection: Int) async throws -> [String] {
        try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<connections {
                group.addTask {
                    var c = try await ctx.connect()
                    var out: [String] = []
                    for _ in 0..<perConnection {
                        if await c.isClosed { c = try await ctx.connect() }
                        out.append(try await ctx.expectHandshake("0", on: c, "HS-1"))
                    }
                    await c.close()
                    return out
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("grammar/001") { ctx in
            for text in try await ids(ctx, connections: 1, perConnection: 20) {
                if case .failure(let error) = ClientID.parse(text) {
                    throw ctx.fail("ID-1", expected: "an id matching routine-id \"$\" uuid", actual: "\(text): \(error)")
                }
            }
        },
        ConformanceCase("grammar/002") { ctx in
            let all = try await ids(ctx, connections: 50, perConnection: 20)
            let distinct = Set(all)
            try ctx.check(distinct.count == all.count, "ID-2", expected: "\(all.count) distinct ids",
                          actual: "\(distinct.count) distinct ids")
        },
        ConformanceCase("grammar/003", estimate: { _ in .milliseconds(600) }) { ctx in
            let count = 200
            // Every client handshakes and polls at once on its own connection.
            let pending = try await withThrowingTaskGroup(of: (ClientID, WireConnection).self) { group in
                for _ in 0..<count {
                    group.addTask {
                        let c = try await ctx.connect()
                        let id = try await ctx.handshake(on: c, requirement: "HS-1")
                        try await ctx.startPoll(id, on: c)
                        return (id, c)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // A poll of an id that is not live answers 404 at once: give it the settle time.
            try await ctx.settleDown()
            let m = ctx.message()
            try await ctx.publish(m)
            for (id, c) in pending {
                // A slow but correct server may time a poll out (204) before the publish
                // reaches it: poll again, as a client would.
                let event = try await ctx.awaitMessage(id, on: c)
                try ctx.check(event.response?.status != 404, "ID-4", expected: "\(id) live at once",
                              actual: "404 for a poll sent right after its handshake")
                try ctx.expectMessage(event, m, requirement: "ID-4")
            }
        },
        ConformanceCase("grammar/004") { ctx in
            let texts = try await ids(ctx, connections: 10, perConnection: 20)
            let uuids = try texts.map { text -> UUIDv4 in
                switch ClientID.parse(text) {
                case .success(let id): return id.uuid
                case .failure(let error): throw ctx.fail("ID-1", expected: "a valid id", actual: "\(text): \(error)")
                }
            }
            // Bits 48-51 (version) and 64-65 (variant) are fixed; the other 122 must vary.
            for bit in 0..<128 where !(48...51).contains(bit) && !(64...65).contains(bit) {
                let ones = uuids.filter { uuid in
                    bit < 64 ? (uuid.high >> UInt64(63 - bit)) & 1 == 1 : (uuid.low >> UInt64(127 - bit)) & 1 == 1
                }.count
                let share = Double(ones) / Double(uuids.count)
                try ctx.check((0.2...0.8).contains(share), "ID-3", expected: "uuid bit \(bit) set in 20% to 80% of ids",
                              actual: "set in \(Int(share * 100))% of \(uuids.count) ids")
            }
            let prefixes = Set(uuids.map { String($0.description.prefix(12)) })
            try ctx.check(prefixes.count == uuids.count, "SE-1", expected: "no two uuids sharing their first 12 hex digits",
                          actual: "\(uuids.count - prefixes.count) shared prefixes")
        },
    ]
}
