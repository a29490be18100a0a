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
        ConformanceCase("handshake/009") { ctx in
            let c = try await ctx.connect()
            for _ in 0..<3 {
                let event = try await ctx.get(clientID: "0", on: c)
                try ctx.expectHandshakeAnswer(event, "HS-1", what: "a handshake")
                let body = event.response!.body
                // JSON parsers disagree on a repeated member (first wins, last wins, error):
                // count them in the text, where a parser would hide the repetition.
                let count = topLevelMemberCount(body, named: "client-id")
                try ctx.check(count == 1, "HS-7", expected: "exactly one member client-id in the handshake object",
                              actual: "\(count.map(String.init) ?? "an object that cannot be scanned"): \(Transcript.escape(body, limit: 200))")
            }
        },
    ]

    /// How many members of the top-level JSON object in `body` have the name `name`
    /// (after unescaping), repeated names counted; nil when `body` is not an object.
    static func topLevelMemberCount(_ body: [UInt8], named name: String) -> Int? {
        var scanner = JSONTextScanner(body)
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        var count = 0
        if scanner.take(UInt8(ascii: "}")) { return scanner.atEnd ? 0 : nil }
        repeat {
            guard let key = scanner.string(), scanner.take(UInt8(ascii: ":")), scanner.skipValue() else { return nil }
            if key == name { count += 1 }
        } while scanner.take(UInt8(ascii: ","))
        return scanner.take(UInt8(ascii: "}")) && scanner.atEnd ? count : nil
    }

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
                // reaches it: poll again, as a client would. The case judges ID-4 only.
                let event = try await ctx.awaitMessage(id, on: c, judgingPO1: false)
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

/// Just enough of JSON's grammar (RFC 8259) to walk an object's members in their text
/// order, keeping what a parser's dictionary would merge (handshake/009).
struct JSONTextScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool {
        mutating get { skipSpace(); return index == bytes.count }
    }

    private mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// A string token, unescaped; nil if none is next or it is malformed.
    mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.count,
                          let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else { return nil }
                    index += 4
                    flush()
                    // A lone surrogate stands for nothing here: a member name never needs one.
                    scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0C)
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): raw.append(escape)
                default: return nil
                }
            case 0x00..<0x20: return nil
            default: raw.append(byte)
            }
        }
        return nil
    }

    /// Skips one value of any kind; false if none is next or it is malformed.
    mutating func skipValue() -> Bool {
        skipSpace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return string() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            index += 1
            if take(close) { return true }
            repeat {
                if isObject { guard string() != nil, take(UInt8(ascii: ":")) else { return false } }
                guard skipValue() else { return false }
            } while take(UInt8(ascii: ","))
            return take(close)
        default:
            // A number or true / false / null: the run of bytes up to a delimiter.
            let start = index
            while index < bytes.count, !" \t\r\n,}]:".utf8.contains(bytes[index]) { index += 1 }
            return index > start
        }
    }
}
