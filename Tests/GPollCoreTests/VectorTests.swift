import Foundation
import Testing
@testable import GPollCore

/// Spec/vectors.json (Spec section 1.5), read from the repository via #filePath.
private struct Vectors: Decodable {
    var spec: String
    var specVersion: String
    var queries: [QueryVector]
    var exchanges: [Exchange]

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func load() throws -> Vectors {
        let url = repositoryRoot.appendingPathComponent("Spec").appendingPathComponent("vectors.json")
        return try JSONDecoder().decode(Vectors.self, from: try Data(contentsOf: url))
    }

    /// The requirement ids of Spec/catalog.json that are not retired. GPollCoreTests
    /// does not depend on GPollSpec, so the catalog is read as plain JSON.
    static func activeRequirementIDs() throws -> Set<String> {
        let url = repositoryRoot.appendingPathComponent("Spec").appendingPathComponent("catalog.json")
        let catalog = try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any])
        let requirements = try #require(catalog["requirements"] as? [[String: Any]])
        return Set(requirements.filter { ($0["retired"] as? Bool) != true }.compactMap { $0["id"] as? String })
    }
}

private struct QueryVector: Decodable, CustomTestStringConvertible {
    var query: String?
    var queryHex: String?
    /// V in lowercase hex; nil when there is none (absent, or an invalid escape).
    var v: String?
    var vAbsent: Bool?
    var `class`: String
    var rule: String
    var reason: String
    var rfc9112: Bool?

    var queryBytes: [UInt8] {
        get throws {
            if let queryHex { return try #require(hexBytes(queryHex), "queryHex \(queryHex) is not hex") }
            return Array(try #require(query, "a vector without query or queryHex").utf8)
        }
    }

    var testDescription: String { "\(query ?? "hex:" + (queryHex ?? "?")) (\(`class`), \(rule))" }
}

private struct Exchange: Decodable, CustomTestStringConvertible {
    struct Response: Decodable {
        var statusLine: String
        var status: Int
        var headers: [[String]]
        var body: String?
        var bodyHex: String?

        func header(_ name: String) -> String? {
            headers.first { $0.first?.lowercased() == name.lowercased() }?.last
        }

        var bodyBytes: [UInt8] {
            if let bodyHex { return hexBytes(bodyHex) ?? [] }
            return Array((body ?? "").utf8)
        }
    }

    /// A request and its answer, or a publish through the harness.
    struct Step: Decodable {
        var request: String?
        var response: Response?
        var when: String?
        var publish: String?
        var publishWhileWaiting: String?
        var connection: Int?
    }

    var name: String
    var description: String
    var rules: [String]
    var steps: [Step]

    var testDescription: String { name }
}

private func hexBytes(_ text: String) -> [UInt8]? {
    guard text.count.isMultiple(of: 2) else { return nil }
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
        bytes.append(byte)
        index = next
    }
    return bytes
}

/// The parts of a raw HTTP/1.1 request that the exchange checks need.
private struct RawRequest {
    var method: String
    var target: [UInt8]
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Parses request bytes strictly enough to catch a malformed vector: request line,
    /// `Name: value` header lines with token names, CRLF CRLF, a body framed by
    /// Content-Length or chunked coding (or none).
    static func parse(_ text: String) throws -> RawRequest {
        let bytes = Array(text.utf8)
        let separator: [UInt8] = [13, 10, 13, 10]
        let end = try #require(bytes.indices.first { bytes[$0...].starts(with: separator) }, "no CRLF CRLF after the headers")
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var rest = Array(bytes[(end + 4)...])
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        try #require(requestLine.count == 3, "request line \(lines[0])")
        #expect(requestLine[2] == "HTTP/1.1", "request line \(lines[0])")
        #expect(requestLine[0].allSatisfy { $0.isUppercase }, "method \(requestLine[0])")
        #expect(requestLine[1].hasPrefix("/"), "origin-form target \(requestLine[1])")
        let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            let colon = try #require(line.firstIndex(of: ":"), "header line without a colon: \(line)")
            let name = String(line[..<colon])
            #expect(!name.isEmpty && name.allSatisfy(tokenCharacters.contains), "header name \(name)")
            headers.append((name, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var request = RawRequest(method: String(requestLine[0]), target: Array(requestLine[1].utf8), headers: headers, body: [])
        #expect(request.header("Host") != nil, "an HTTP/1.1 request carries Host")
        if request.header("Transfer-Encoding")?.lowercased() == "chunked" {
            request.body = try dechunk(&rest)
        } else if let length = request.header("Content-Length") {
            let count = try #require(Int(length))
            try #require(rest.count >= count, "body shorter than Content-Length")
            request.body = Array(rest.prefix(count))
            rest.removeFirst(count)
        }
        #expect(rest.isEmpty, "bytes after the request: \(rest.count)")
        return request
    }

    static func dechunk(_ bytes: inout [UInt8]) throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let lineEnd = try #require(bytes.indices.first { bytes[$0...].starts(with: [13, 10]) }, "chunk size line")
            let size = try #require(Int(String(decoding: bytes[..<lineEnd], as: UTF8.self), radix: 16), "chunk size")
            bytes.removeFirst(lineEnd + 2)
            if size == 0 {
                try #require(bytes.starts(with: [13, 10]), "CRLF after the last chunk")
                bytes.removeFirst(2)
                return body
            }
            try #require(bytes.count >= size + 2, "chunk shorter than its size")
            body += bytes.prefix(size)
            try #require(Array(bytes[size..<(size + 2)]) == [13, 10], "CRLF after a chunk")
            bytes.removeFirst(size + 2)
        }
    }
}

@Suite("Spec/vectors.json")
struct VectorTests {
    private let vectors: Vectors

    init() throws {
        vectors = try Vectors.load()
    }

    @Test("The file is for this version and covers every classification")
    func shape() throws {
        #expect(vectors.spec == "gpoll/1")
        #expect(vectors.specVersion == "1.1.0")
        #expect(vectors.queries.count >= 40)
        let classes = Set(vectors.queries.map(\.class))
        #expect(classes == ["handshake", "poll-shape", "notfound", "invalid-escape"])
        let requirements = try Vectors.activeRequirementIDs()
        for rule in Set(vectors.queries.map(\.rule) + vectors.exchanges.flatMap(\.rules)) {
            #expect(requirements.contains(rule), "\(rule) is not an active requirement of catalog.json")
        }
        for name in ["handshake", "poll", "poll-timeout", "not-found", "register-again", "ack"] {
            #expect(vectors.exchanges.contains { $0.name == name }, "exchange \(name)")
        }
    }

    @Test("Every query vector: V and classification as GPollCore computes them")
    func queries() throws {
        for vector in vectors.queries {
            let target = Array("/poll?".utf8) + (try vector.queryBytes)
            let parameter = ClientIDParameter.parse(requestTarget: target)
            let classification = RequestClassification(requestTarget: target)
            let context = Comment(rawValue: vector.testDescription)

            switch parameter {
            case .absent:
                #expect(vector.v == nil && vector.vAbsent == true, context)
            case .invalidPercentEncoding:
                #expect(vector.v == nil && vector.vAbsent == false, context)
            case .value(let value):
                #expect(vector.v.flatMap(hexBytes) == value, context)
            }

            switch vector.class {
            case "handshake":
                #expect(classification == .handshake, context)
            case "poll-shape":
                guard case .poll(let id) = classification else {
                    Issue.record("expected a poll, got \(classification): \(vector.testDescription)")
                    continue
                }
                #expect(id.canonicalBytes == vector.v.flatMap(hexBytes), context)
            case "notfound":
                guard case .notFound(let reason) = classification else {
                    Issue.record("expected 404, got \(classification): \(vector.testDescription)")
                    continue
                }
                // NF-1 is exactly "10 bytes or more without `$`"; every other rule is a malformed id.
                if vector.rule == "NF-1" {
                    #expect(reason == .noDollar, context)
                } else {
                    #expect(reason != .noDollar && reason != .unknownClient, context)
                }
            case "invalid-escape":
                #expect(classification == .badRequest(.invalidPercentEncoding), context)
            default:
                Issue.record("unknown classification \(vector.class): \(vector.testDescription)")
            }
        }
    }

    @Test("Vectors that RFC 9112 forbids carry raw bytes; all others are valid request-target text")
    func rawBytes() throws {
        // RFC 3986 query characters: unreserved, sub-delims, ":", "@", "/", "?" and "%" escapes.
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%".utf8)
        for vector in vectors.queries {
            let bytes = try vector.queryBytes
            let valid = bytes.allSatisfy(allowed.contains)
            #expect(valid == (vector.rfc9112 ?? true), Comment(rawValue: vector.testDescription))
        }
    }

    @Test("Every exchange is well-formed and agrees with GPollCore's classification")
    func exchanges() throws {
        let reasons: Set<String> = ["unknown", "evicted", "expired", "shutdown", "malformed"]
        for exchange in vectors.exchanges {
            var issued: [ClientID] = []
            var ended: Set<ClientID> = []
            var offersAck = false
            try #require(!exchange.steps.isEmpty, "\(exchange.name) has no step")
            for step in exchange.steps {
                if step.publish != nil {
                    #expect(step.request == nil && step.response == nil, "\(exchange.name): a publish step is only a publish")
                    continue
                }
                let text = try #require(step.request, "\(exchange.name): a step without request")
                let response = try #require(step.response, "\(exchange.name): a step without response")
                let request = try RawRequest.parse(text)

                // The status line and the framing of the answer.
                let words = response.statusLine.split(separator: " ", maxSplits: 2)
                #expect(words.count == 3 && words[0] == "HTTP/1.1" && words[1] == "\(response.status)", "\(exchange.name): \(response.statusLine)")
                if let length = response.header("Content-Length") {
                    #expect(Int(length) == response.bodyBytes.count, "\(exchange.name): Content-Length \(length)")
                }
                if response.status == 204 || request.method == "HEAD" {
                    #expect(response.bodyBytes.isEmpty, "\(exchange.name): no body on 204 or HEAD")
                }
                #expect(response.header("Cache-Control") == "no-store", "\(exchange.name): TR-6")
                if let reason = response.header("GPoll-Reason") {
                    #expect([400, 404].contains(response.status) && reasons.contains(reason), "\(exchange.name): GPoll-Reason \(reason)")
                }

                // What the request is, and whether the answer fits it.
                let classification = RequestClassification(requestTarget: request.target)
                if request.method == "HEAD" {
                    #expect(response.status == 405 && response.header("Allow")?.contains("GET") == true, "\(exchange.name): TR-7")
                    continue
                }
                switch classification {
                case .handshake:
                    #expect(response.status == 200, "\(exchange.name): a handshake is answered 200")
                    let id = try HandshakeBody.decode(response.bodyBytes).get()
                    #expect(!issued.contains(id), "\(exchange.name): ids are distinct")
                    issued.append(id)
                    #expect(response.header("Content-Type") == "application/json", "\(exchange.name): HS-3")
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(response.bodyBytes)) as? [String: Any])
                    offersAck = (object["extensions"] as? [String])?.contains("ack") == true
                case .poll(let id):
                    if issued.contains(id) && !ended.contains(id) {
                        #expect([200, 204, 400, 404].contains(response.status), "\(exchange.name): a poll of an issued id")
                        if response.status == 404 { ended.insert(id) }
                    } else {
                        // Never issued in this exchange, or already answered 404 (BU-4): 404 for ever.
                        #expect(response.status == 404, "\(exchange.name): an id not issued, or ended, is 404")
                    }
                    if response.status == 200 {
                        #expect(response.header("Content-Type") == "application/octet-stream", "\(exchange.name): TR-8")
                        #expect(response.header("X-Content-Type-Options") == "nosniff", "\(exchange.name): TR-8")
                        let sequence = response.header("GPoll-Sequence")
                        #expect((sequence != nil) == offersAck, "\(exchange.name): GPoll-Sequence on every 200 exactly when ack is offered")
                    }
                case .notFound:
                    #expect(response.status == 404, "\(exchange.name): \(classification)")
                case .badRequest:
                    #expect(response.status == 400, "\(exchange.name): PA-5")
                }
            }
        }
    }

    @Test("The register-again exchange: 404 for the old id, a new handshake, the new id polled")
    func registerAgain() throws {
        let exchange = try #require(vectors.exchanges.first { $0.name == "register-again" })
        var statuses: [String] = []
        var ids: [ClientID] = []
        for step in exchange.steps {
            guard let text = step.request, let response = step.response else { continue }
            switch RequestClassification(requestTarget: try RawRequest.parse(text).target) {
            case .handshake:
                ids.append(try HandshakeBody.decode(response.bodyBytes).get())
                statuses.append("handshake")
            case .poll(let id):
                let which = ids.firstIndex(of: id).map { "id\($0 + 1)" } ?? "unknown id"
                statuses.append("\(which) \(response.status)")
            default:
                statuses.append("other")
            }
        }
        #expect(statuses == ["handshake", "id1 404", "handshake", "id2 200"])
    }

    @Test("The ack exchange: sequence numbers follow AK-1 to AK-5")
    func ackExchange() throws {
        let exchange = try #require(vectors.exchanges.first { $0.name == "ack" })
        var highestHandedOut: UInt64 = 0
        var acknowledged: UInt64 = 0
        for step in exchange.steps {
            guard let text = step.request, let response = step.response else { continue }
            let target = try RawRequest.parse(text).target
            let query = String(decoding: target.drop { $0 != UInt8(ascii: "?") }.dropFirst(), as: UTF8.self)
            let ack = query.split(separator: "&").first { $0.hasPrefix("ack=") }.map { String($0.dropFirst(4)) }
            guard case .poll = RequestClassification(requestTarget: target) else { continue }
            if let ack {
                guard let n = UInt64(ack), n <= highestHandedOut else {
                    #expect(response.status == 400, "ack=\(ack) above the highest sequence: AK-6")
                    continue
                }
                acknowledged = max(acknowledged, n)
            } else {
                acknowledged = highestHandedOut // AK-5
            }
            guard response.status == 200 else { continue }
            let sequence = try #require(response.header("GPoll-Sequence").flatMap(UInt64.init))
            // AK-2: the lowest unacknowledged sequence, which is the next new one when none is outstanding.
            #expect(sequence == acknowledged + 1, "ack \(ack ?? "none") answered with sequence \(sequence)")
            highestHandedOut = max(highestHandedOut, sequence)
        }
        #expect(highestHandedOut == 3)
    }
}
