import GPollWire
import Foundation
import GPollCore
import Synchronization

/// Requests: methods, the handshake, the id and its encoding, bodies (CL-1 to CL-8, CL-10, CL-25).
enum ClientRequestCases {
    static let all: [ClientConformanceCase] = [registersAndPolls, zeroAndDollar, unusualID, handshakeObject, notHandshakes,
                                               opaqueBytes, ownID, idNotPrinted]

    /// client/001: GET, a handshake first, then polls with V the id byte for byte.
    static let registersAndPolls = ClientConformanceCase("client/001", limit: .seconds(40)) { context in
        let id = freshClientID()
        let message = caseMessage(context.caseID, "m1")
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count == 1 ? .message(message, after: .milliseconds(300)) : .hold
        }
        let client = try await context.launch(endpoint.url)
        let printed = await context.wait(within: .seconds(20)) { client.messages.contains(message) }
        // The poll after the message, to check its V too.
        await context.wait(within: .seconds(2)) { polls.withLock { $0 } >= 2 }
        let requests = context.requests
        if let other = requests.first(where: { $0.method != "GET" }) {
            throw context.fail("CL-1", expected: "GET for every handshake and poll", actual: other.line)
        }
        guard let first = requests.first else {
            throw context.fail("CL-1", expected: "a GET handshake", actual: "no request")
        }
        try context.check(first.isHandshake, "CL-5", expected: "a handshake first (V absent or under 10 bytes)", actual: first.line)
        if let wrong = requests.dropFirst().first(where: { $0.polledID != Array(id.utf8) }) {
            throw context.fail("CL-5", expected: "every request after the handshake a poll with V = \(id) byte for byte",
                               actual: wrong.line)
        }
        try context.check(printed, "CL-5", expected: "message \(hex(message)) printed",
                          actual: describeMessages(client.messages) + " printed")
    }

    /// client/002: `client-id=0` in the handshake, `%24` for the id's `$` in polls.
    static let zeroAndDollar = ClientConformanceCase("client/002", limit: .seconds(40)) { context in
        let id = freshClientID()
        let endpoint = try await context.serve { request in
            request.isHandshake ? .message(handshakeBody(id)) : .hold
        }
        try await context.launch(endpoint.url)
        guard let poll = await context.request(after: nil, within: .seconds(20), where: { !$0.isHandshake }) else {
            throw context.fail("CL-7", expected: "a handshake, then a poll", actual: describeRequests(context.requests))
        }
        let handshake = context.requests.first!
        let items = handshake.rawQuery.split(separator: "&").map(String.init)
        try context.check(items.contains("client-id=0"), "CL-3", expected: "the handshake's query to carry client-id=0",
                          actual: handshake.line)
        let raw = rawValue(of: "client-id", in: poll.rawQuery) ?? ""
        try context.check(!raw.contains("$") && raw.lowercased().contains("%24"), "CL-7",
                          expected: "the poll's client-id to spell $ as %24", actual: poll.line)
    }

    /// client/003: an id outside the grammar, percent-encoded byte for byte.
    static let unusualID = ClientConformanceCase("client/003", limit: .seconds(40)) { context in
        let id = "0$a+b%c&d#e f/g~é"
        let endpoint = try await context.serve { request in
            request.index == 0 ? .message(handshakeBody(id)) : .hold
        }
        try await context.launch(endpoint.url)
        guard let poll = await context.request(after: 0, within: .seconds(20)) else {
            throw context.fail("CL-6", expected: "a poll after the handshake", actual: describeRequests(context.requests))
        }
        let raw = rawValue(of: "client-id", in: poll.rawQuery)
        let expected = "each byte of the id outside A-Z a-z 0-9 - . _ ~ $ percent-encoded (+ as %2B, % as %25, & as %26, "
            + "# as %23, space as %20, é as %C3%A9), decoding to the id byte for byte"
        guard let raw else { throw context.fail("CL-6", expected: expected, actual: "no client-id in \(poll.line)") }
        try context.check(isStrictlyEncoded(raw), "CL-6", expected: expected, actual: poll.line)
        try context.check(poll.polledID == Array(id.utf8), "CL-5", expected: expected, actual: poll.line)
    }

    /// client/004: a handshake object with whitespace, other members, a nested
    /// `client-id` and an escape for `$`.
    static let handshakeObject = ClientConformanceCase("client/004", limit: .seconds(40)) { context in
        let uuid = UUID().uuidString.lowercased()
        let id = "0$" + uuid
        let body = Array("{ \"x-other\" : [1, {\"client-id\":\"no\"}],\n  \"gpoll\":\"1.1\", \"future-member\":true,\n  \"client-id\" : \"0\\u0024\(uuid)\" }".utf8)
        let message = caseMessage(context.caseID, "m1")
        let delivered = Mutex(false)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(body) }
            guard request.polledID == Array(id.utf8) else { return .respond(404) }
            let first = delivered.withLock { value -> Bool in defer { value = true }; return !value }
            return first ? .message(message, after: .milliseconds(200)) : .hold
        }
        let client = try await context.launch(endpoint.url)
        let printed = await context.wait(within: .seconds(20)) { client.messages.contains(message) }
        if let wrong = context.requests.first(where: { !$0.isHandshake && $0.polledID != Array(id.utf8) }) {
            throw context.fail("CL-5", expected: "polls with V = \(id) (the decoded string)", actual: wrong.line)
        }
        try context.check(context.requests.contains { $0.polledID == Array(id.utf8) }, "CL-4",
                          expected: "the handshake object accepted and a poll with V = \(id)",
                          actual: describeRequests(context.requests))
        try context.check(printed, "CL-4", expected: "message \(hex(message)) printed", actual: describeMessages(client.messages) + " printed")
    }

    /// client/005: bodies that are not handshake answers: no poll with their values,
    /// a backoff before each next handshake.
    static let notHandshakes = ClientConformanceCase("client/005", limit: .seconds(300)) { context in
        let invalid = ["not json", "[\"client-id\"]", "{}", "{\"client-id\":7}", "{\"client-id\":\"0$a\",\"client-id\":\"0$b\"}",
                       "{\"client-id\":\"0$short\"}"]
        let id = freshClientID()
        let endpoint = try await context.serve { request in
            if request.isHandshake && request.index < invalid.count { return .message(Array(invalid[request.index].utf8)) }
            return request.isHandshake ? .message(handshakeBody(id)) : .hold
        }
        try await context.launch(endpoint.url)
        let badValues = ["7", "0$a", "0$b", "0$short"].map { Array($0.utf8) }
        let usesBadValue: (ClientRequest) -> Bool = { request in
            if case .value(let value) = request.clientID { return badValues.contains(value) }
            return false
        }
        // Until the poll, or a request with a value it must not have taken.
        let polled = await context.request(after: nil, within: .seconds(280), where: { !$0.isHandshake || usesBadValue($0) })
        let requests = context.requests
        if let bad = requests.first(where: usesBadValue) {
            throw context.fail("CL-4", expected: "no request with a value from an answer that is not a handshake object", actual: bad.line)
        }
        let handshakes = requests.filter(\.isHandshake)
        guard handshakes.count > invalid.count, let polled, !polled.isHandshake else {
            throw context.fail("CL-16", expected: "\(invalid.count) handshakes answered with other bodies, then a valid one, then a poll",
                               actual: describeRequests(requests))
        }
        if let early = requests.first(where: { !$0.isHandshake && $0.index < handshakes[invalid.count].index }) {
            throw context.fail("CL-4", expected: "no poll before the valid handshake answer", actual: early.line)
        }
        let gaps = backoffGaps(handshakes.prefix(invalid.count + 1).map(\.index), context: context)
        try checkBackoffGaps(gaps, atLeast: 2, context: context, what: "handshake after an answer that is not a handshake object")
        try context.check(polled.polledID == Array(id.utf8), "CL-5", expected: "the poll's V = \(id)", actual: polled.line)
    }

    /// client/006: messages are bytes, whatever their Content-Type.
    static let opaqueBytes = ClientConformanceCase("client/006", limit: .seconds(40)) { context in
        let id = freshClientID()
        let bodies: [([UInt8], [(String, String)])] = [
            ([], []),
            ([0x00, 0xFF, 0x0D, 0x0A], [("Content-Type", "application/octet-stream")]),
            (Array("{\"not\":\"for you\"}".utf8), [("Content-Type", "application/json")]),
            (Array("<html>".utf8), [("Content-Type", "text/html")]),
            (Array("no content type".utf8), []),
        ]
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count <= bodies.count ? .message(bodies[count - 1].0, headers: bodies[count - 1].1) : .hold
        }
        let client = try await context.launch(endpoint.url)
        let expected = bodies.map(\.0)
        await context.wait(within: .seconds(20)) { client.messages.count >= expected.count && polls.withLock { $0 } > expected.count }
        try context.check(Array(client.messages.prefix(expected.count)) == expected, "CL-8",
                          expected: "printed, in order: \(describeMessages(expected))", actual: describeMessages(client.messages))
        try context.check(polls.withLock { $0 } > expected.count, "CL-8", expected: "a poll after the last of them (it keeps polling)",
                          actual: describeRequests(context.requests))
    }

    /// client/021: two instances, each with its own id. Each gets its own path, so
    /// the scripted server can tell whose request is whose.
    static let ownID = ClientConformanceCase("client/021", limit: .seconds(40)) { context in
        let issued = Mutex<[String: String]>([:])
        let endpoint = try await context.serve { request in
            let path = String(decoding: request.target.prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
            if request.isHandshake {
                let id = freshClientID()
                issued.withLock { $0[path] = id }
                return .message(handshakeBody(id))
            }
            return .noContent(after: .seconds(1))
        }
        let base = endpoint.url
        try await context.launch(base + "/a")
        try await context.launch(base + "/b")
        let paths = ["/poll/a", "/poll/b"]
        await context.wait(within: .seconds(20)) {
            paths.allSatisfy { path in context.requests.filter { $0.line.contains(path + "?") && !$0.isHandshake }.count >= 2 }
        }
        let requests = context.requests
        let ids = issued.withLock { $0 }
        try context.check(requests.filter(\.isHandshake).count >= 2, "CL-10", expected: "a handshake from each instance",
                          actual: describeRequests(requests))
        for request in requests where !request.isHandshake {
            let path = String(decoding: request.target.prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
            let own = ids[path].map { Array($0.utf8) }
            try context.check(request.polledID == own, "CL-10",
                              expected: "each instance to poll only with the id issued to it (\(path): \(ids[path] ?? "none"))",
                              actual: request.line)
        }
        for path in paths {
            try context.check(requests.contains { !$0.isHandshake && $0.line.contains(path + "?") }, "CL-10",
                              expected: "polls from the instance at \(path)", actual: describeRequests(requests))
        }
    }

    /// client/022: the id in neither output (beyond the line protocol's own
    /// `client-id` members, which are for the tester).
    static let idNotPrinted = ClientConformanceCase("client/022", limit: .seconds(40)) { context in
        let id = freshClientID()
        let message = caseMessage(context.caseID, "m1")
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count == 1 ? .message(message) : .hold
        }
        let client = try await context.launch(endpoint.url)
        await context.wait(within: .seconds(20)) { client.messages.contains(message) }
        await context.pause(.milliseconds(300))
        // The uuid part, so that `%24` or an escaped `$` does not hide it.
        let secret = String(id.dropFirst(2))
        let leaked = client.printed.first { printed in
            switch printed.event {
            case .registered, .registeredAgain:
                // The line protocol carries the id to the tester in "client-id"; anywhere else it leaks.
                var line = printed.line
                for form in ["\"\(id)\"", "\"0\\u0024\(secret)\""] { line = line.replacingOccurrences(of: form, with: "\"\"") }
                return line.contains(secret)
            default:
                return printed.line.contains(secret)
            }
        }
        if let leaked {
            throw context.fail("CL-25", expected: "the id nowhere in the client's standard output (beyond the line protocol's client-id)",
                               actual: Transcript.escape(Array(leaked.line.utf8), limit: 300))
        }
        let standardError = String(decoding: client.standardError, as: UTF8.self)
        try context.check(!standardError.contains(secret), "CL-25", expected: "the id nowhere in the client's standard error",
                          actual: "standard error: " + Transcript.escape(Array(standardError.utf8), limit: 300))
    }

    // MARK: - Query spelling

    /// The raw (undecoded) value of the first item whose raw name is `name`.
    static func rawValue(of name: String, in query: String) -> String? {
        for item in query.split(separator: "&", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first.map(String.init) == name { return parts.count > 1 ? String(parts[1]) : "" }
        }
        return nil
    }

    /// Only unreserved bytes, `$` and `%HH` (CL-6): no `+`, no bare `%`.
    static func isStrictlyEncoded(_ raw: String) -> Bool {
        let bytes = Array(raw.utf8)
        var index = 0
        func isHex(_ byte: UInt8) -> Bool { (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte) }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, isHex(bytes[index + 1]), isHex(bytes[index + 2]) else { return false }
                index += 3
                continue
            }
            let unreserved = (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte)
                || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "$")].contains(byte)
            if !unreserved { return false }
            index += 1
        }
        return true
    }
}
