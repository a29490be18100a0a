import Foundation
import GPollCore
@testable import GPollServer
import NIOHTTP1
import Testing

/// A server for these tests with CORS and the demo set as given, on 127.0.0.1 port 0.
func withBrowserServer<T>(
    cors: CORSPolicy? = nil,
    demo: GPollServerConfiguration.Demo? = nil,
    path: String = "/poll",
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let endpoint = try GPollEndpoint(path: path)
    let server = try GPollServer(
        configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0), cors: cors, demo: demo),
        endpoints: [endpoint]
    )
    try await server.start()
    let running = TestServer(server: server, endpoints: [endpoint], port: server.port!, adminPort: server.adminPort!, clientTLS: nil)
    do {
        let result = try await body(running)
        await server.shutdown()
        return result
    } catch {
        await server.shutdown()
        throw error
    }
}

extension HTTPHeaders {
    /// The names of the CORS response headers present.
    var corsNames: [String] { map(\.name).filter { $0.lowercased().hasPrefix("access-control-") } }
}

@Suite("CORS policy (pure logic)")
struct CORSPolicyTests {
    static let page = "http://127.0.0.1:9000"

    static func headers(_ fields: [(String, String)]) -> HTTPHeaders { HTTPHeaders(fields) }
    static func names(_ headers: [CORSPolicy.Header]) -> [String] { headers.map(\.name) }
    static func value(_ name: String, in headers: [CORSPolicy.Header]) -> String? { headers.first { $0.name == name }?.value }

    @Test("an allowed origin gets Allow-Origin (its own), Vary: Origin and the headers gpoll.js reads")
    func allowedOrigin() throws {
        let policy = try CORSPolicy(allowing: [Self.page, "https://example.com"])
        guard case .serve(let added) = policy.decide(method: .GET, headers: Self.headers([("Origin", Self.page)])) else {
            Issue.record("a GET is served"); return
        }
        #expect(Self.value("Access-Control-Allow-Origin", in: added) == Self.page)
        #expect(Self.value("Vary", in: added) == "Origin")
        let exposed = try #require(Self.value("Access-Control-Expose-Headers", in: added)).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        #expect(Set(exposed) == ["gpoll-sequence", "gpoll-reason", "retry-after"])
    }

    /// Reads gpoll.js itself: every response header it reads must be exposed (or CORS-safelisted).
    @Test("every header gpoll.js reads from a response is exposed")
    func exposesWhatGPollJSReads() throws {
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Clients/js/gpoll.js").standardized, encoding: .utf8)
        let read = Set(source.matches(of: #/headers\.get\('([^']+)'\)/#).map { String($0.output.1).lowercased() })
        #expect(read.count >= 3, "gpoll.js reads at least Retry-After, GPoll-Sequence, GPoll-Reason: \(read)")
        // Fetch's CORS-safelisted response headers, readable without being exposed.
        let safelisted: Set<String> = ["cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"]
        let exposed = Set(CORSPolicy.exposedHeaders.map { $0.lowercased() })
        #expect(read.subtracting(safelisted).isSubset(of: exposed), "gpoll.js reads \(read), exposed \(exposed)")
    }

    @Test("'*' answers Allow-Origin: * to any origin, with no Vary")
    func anyOrigin() throws {
        let policy = try CORSPolicy(allowing: ["*"])
        guard case .serve(let added) = policy.decide(method: .GET, headers: Self.headers([("Origin", "https://anywhere.example")])) else {
            Issue.record("a GET is served"); return
        }
        #expect(Self.value("Access-Control-Allow-Origin", in: added) == "*")
        #expect(Self.value("Vary", in: added) == nil)
        #expect(Self.value("Access-Control-Expose-Headers", in: added) != nil)
    }

    @Test("a disallowed, missing, repeated or differently written origin gets no CORS header", arguments: [
        [("Origin", "http://127.0.0.1:9001")],
        [],
        [("Origin", CORSPolicyTests.page), ("Origin", "http://evil.example")],
        [("Origin", "HTTP://127.0.0.1:9000")],
        [("Origin", "null")],
    ])
    func refusedOrigin(fields: [(String, String)]) throws {
        let policy = try CORSPolicy(allowing: [Self.page])
        #expect(policy.decide(method: .GET, headers: Self.headers(fields)) == .serve(addingHeaders: [.init("Vary", "Origin")]))
    }

    @Test("a preflight of an allowed origin gets 204 headers: Allow-Methods GET, Max-Age")
    func preflight() throws {
        let policy = try CORSPolicy(allowing: [Self.page])
        let request = Self.headers([("Origin", Self.page), ("Access-Control-Request-Method", "GET")])
        guard case .answerPreflight(let headers) = policy.decide(method: .OPTIONS, headers: request) else {
            Issue.record("a preflight is answered by the policy"); return
        }
        #expect(Self.value("Access-Control-Allow-Origin", in: headers) == Self.page)
        #expect(Self.value("Access-Control-Allow-Methods", in: headers) == "GET")
        #expect(Self.value("Access-Control-Max-Age", in: headers) == String(CORSPolicy.preflightMaxAgeSeconds))
        #expect(Self.value("Access-Control-Allow-Headers", in: headers) == nil, "gpoll requests carry no headers of their own")
    }

    @Test("a preflight of another origin is answered (never served) without CORS headers")
    func refusedPreflight() throws {
        let policy = try CORSPolicy(allowing: [Self.page])
        let request = Self.headers([("Origin", "http://evil.example"), ("Access-Control-Request-Method", "GET")])
        #expect(policy.decide(method: .OPTIONS, headers: request) == .answerPreflight(headers: [.init("Vary", "Origin")]))
    }

    @Test("OPTIONS without Access-Control-Request-Method is no preflight: served as before")
    func optionsIsNotAPreflight() throws {
        let policy = try CORSPolicy(allowing: [Self.page])
        guard case .serve(let added) = policy.decide(method: .OPTIONS, headers: Self.headers([("Origin", Self.page)])) else {
            Issue.record("served"); return
        }
        #expect(Self.value("Access-Control-Allow-Origin", in: added) == Self.page)
    }

    @Test("bad origin lists are refused with a clear message", arguments: [
        ([], "at least one origin"),
        (["example.com"], "must start with http://"),
        (["https://example.com/"], "no path"),
        (["https://Example.com"], "lower case"),
        (["*", "https://example.com"], "give it alone"),
    ])
    func badOrigins(origins: [String], expected: String) {
        #expect {
            try CORSPolicy(allowing: origins)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }
}

@Suite("CORS on the gpoll listener")
struct CORSListenerTests {
    static let page = "http://127.0.0.1:9000"

    @Test("handshake, message and 404 answers carry the CORS headers for an allowed origin, none for another")
    func answersCarryHeaders() async throws {
        try await withBrowserServer(cors: try CORSPolicy(allowing: [Self.page])) { server in
            let connection = try await server.connect()
            defer { Task { await connection.close() } }
            let origin = [("Origin", Self.page)]
            let handshake = try await connection.request("/poll?client-id=0", headers: origin)
            #expect(handshake.status == .ok)
            #expect(handshake.headers.value("Access-Control-Allow-Origin") == Self.page)
            #expect(handshake.headers.value("Vary") == "Origin")
            let id = try HandshakeBody.decode(handshake.body).get()
            try await server.publish("one")
            let message = try await connection.request(server.pollTarget(id), headers: origin)
            #expect(message.text == "one" && message.headers.value("GPoll-Sequence") == "1")
            #expect(message.headers.value("Access-Control-Expose-Headers")?.contains("GPoll-Sequence") == true)
            let unknown = try await connection.request("/poll?client-id=nonsense-id-x", headers: origin)
            #expect(unknown.status == .notFound && unknown.headers.value("GPoll-Reason") == "unknown")
            #expect(unknown.headers.value("Access-Control-Allow-Origin") == Self.page)

            let other = try await connection.request("/poll?client-id=0", headers: [("Origin", "http://127.0.0.1:9001")])
            #expect(other.status == .ok, "the request is served; the browser withholds the answer")
            #expect(other.headers.corsNames.isEmpty, "\(other.headers)")
            let none = try await connection.request("/poll?client-id=0")
            #expect(none.headers.corsNames.isEmpty)
        }
    }

    @Test("a preflight is answered 204 and registers no client, also behind a waiting poll")
    func preflightAnswered() async throws {
        try await withBrowserServer(cors: try CORSPolicy(allowing: [Self.page])) { server in
            let connection = try await server.connect()
            defer { Task { await connection.close() } }
            let preflight = [("Origin", Self.page), ("Access-Control-Request-Method", "GET")]
            let answer = try await connection.request("/poll?client-id=0", method: .OPTIONS, headers: preflight)
            #expect(answer.status == .noContent)
            #expect(answer.headers.value("Access-Control-Allow-Methods") == "GET")
            #expect(answer.headers.value("Access-Control-Max-Age") != nil)
            #expect(server.endpoint.clientCount == 0, "a preflight is not a handshake")

            // Pipelined behind a waiting poll, the preflight's answer comes after the poll's.
            let id = try await server.handshake(connection)
            let poll = connection.send(server.pollTarget(id), headers: [("Origin", Self.page)])
            let queued = connection.send("/poll?client-id=0", method: .OPTIONS, headers: preflight)
            try await waitUntil("the poll waits") { server.endpoint.waitingPollCount == 1 }
            try await server.publish("after")
            let first = try await poll.get()
            #expect(first.status == .ok && first.text == "after")
            #expect(first.headers.value("Access-Control-Allow-Origin") == Self.page)
            let second = try await queued.get()
            #expect(second.status == .noContent && second.headers.value("Access-Control-Allow-Methods") == "GET")
            #expect(server.endpoint.clientCount == 1)

            let refused = try await connection.request("/poll?client-id=0", method: .OPTIONS,
                                                       headers: [("Origin", "http://evil.example"), ("Access-Control-Request-Method", "GET")])
            #expect(refused.status == .noContent && refused.headers.corsNames.isEmpty)
            #expect(server.endpoint.clientCount == 1)
        }
    }

    @Test("without CORS: no CORS header, OPTIONS still served as gpoll, HEAD still 405")
    func withoutCORSUnchanged() async throws {
        try await withBrowserServer { server in
            let connection = try await server.connect()
            defer { Task { await connection.close() } }
            let preflight = [("Origin", Self.page), ("Access-Control-Request-Method", "GET")]
            let options = try await connection.request("/poll?client-id=0", method: .OPTIONS, headers: preflight)
            #expect(options.status == .ok, "OPTIONS is a gpoll request like GET, as before")
            #expect(options.headers.corsNames.isEmpty && options.headers.value("Vary") == nil)
            #expect(server.endpoint.clientCount == 1)
            let head = try await connection.request("/poll?client-id=0", method: .HEAD, headers: [("Origin", Self.page)])
            #expect(head.status == .methodNotAllowed && head.headers.corsNames.isEmpty)
            let get = try await connection.request("/poll?client-id=0", headers: [("Origin", Self.page)])
            #expect(get.status == .ok && get.headers.corsNames.isEmpty)
        }
    }
}
