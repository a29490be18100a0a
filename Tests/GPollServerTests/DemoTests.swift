import Foundation
import GPollCore
@testable import GPollServer
import GPollTestSupport
import NIOHTTP1
import Testing

@Suite("demo: route, rate limit, embedded files (pure logic)")
struct DemoLogicTests {
    @Test("routes: the page, gpoll.js and the publish route; other methods 405; other paths 404")
    func routes() {
        #expect(DemoRoute(method: .GET, path: "/") == .page)
        #expect(DemoRoute(method: .GET, path: "/gpoll.js") == .script)
        #expect(DemoRoute(method: .POST, path: "/demo/publish") == .publish)
        #expect(DemoRoute(method: .POST, path: "/") == .methodNotAllowed(allow: "GET"))
        #expect(DemoRoute(method: .HEAD, path: "/gpoll.js") == .methodNotAllowed(allow: "GET"))
        #expect(DemoRoute(method: .GET, path: "/demo/publish") == .methodNotAllowed(allow: "POST"))
        for path in ["/index.html", "/demo", "/demo/publish/poll", "/publish", "/stats", "//"] {
            #expect(DemoRoute(method: .GET, path: Substring(path)) == .notFound, "\(path)")
            #expect(DemoRoute(method: .POST, path: Substring(path)) == .notFound, "\(path)")
        }
    }

    @Test("the token bucket grants its burst, then refuses with the seconds until the next token, and refills")
    func tokenBucket() {
        let start = GPollInstant(nanoseconds: 1_000_000_000)
        var bucket = TokenBucket(capacity: 3, refillPerSecond: 0.5, now: start)
        for _ in 0..<3 { #expect(bucket.take(at: start) == .granted) }
        #expect(bucket.take(at: start) == .refused(retryAfterSeconds: 2))
        #expect(bucket.take(at: start + .milliseconds(1500)) == .refused(retryAfterSeconds: 1), "0.75 tokens: 0.5 s to go, rounded up")
        #expect(bucket.take(at: start + .seconds(2)) == .granted)
        #expect(bucket.take(at: start + .seconds(2)) == .refused(retryAfterSeconds: 2))
        // A long pause refills to the burst, no further.
        let later = start + .seconds(3600)
        for _ in 0..<3 { #expect(bucket.take(at: later) == .granted) }
        #expect(bucket.take(at: later) != .granted)
        // A clock that steps back (it never does) refills nothing and never crashes.
        #expect(bucket.take(at: start) != .granted)
    }

    static func source(_ path: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("the embedded page and gpoll.js are exactly Clients/js/demo.html and Clients/js/gpoll.js")
    func embeddedCopiesAreCurrent() throws {
        #expect(EmbeddedDemo.page == (try Self.source("Clients/js/demo.html")),
                "Sources/GPollServer/EmbeddedDemo.swift is out of date: run Scripts/embed-demo")
        #expect(EmbeddedDemo.script == (try Self.source("Clients/js/gpoll.js")),
                "Sources/GPollServer/EmbeddedDemo.swift is out of date: run Scripts/embed-demo")
        #expect(EmbeddedDemo.page.contains(DemoSite.endpointMarker), "the page names its endpoint where the server puts the real one")
    }

    @Test("configuration: bad demo limits are refused")
    func badSettings() {
        for demo in [GPollServerConfiguration.Demo(maximumMessageBytes: -1), .init(publishBurst: 0), .init(publishesPerSecond: 0), .init(publishesPerSecond: .nan)] {
            #expect(!GPollServerConfiguration(demo: demo).problems.isEmpty, "\(demo)")
        }
        #expect(GPollServerConfiguration(demo: .init()).problems.isEmpty)
    }
}

@Suite("demo on the gpoll listener")
struct DemoListenerTests {
    @Test("without the demo, /, /gpoll.js and /demo/publish are 404 and nothing publishes")
    func offByDefault() async throws {
        try await withBrowserServer { server in
            let connection = try await server.connect()
            defer { Task { await connection.close() } }
            let id = try await server.handshake(connection)
            for path in ["/", "/gpoll.js", "/demo/publish"] {
                #expect(try await connection.request(path).status == .notFound, "\(path)")
            }
            #expect(try await connection.request("/demo/publish", method: .POST, body: Array("x".utf8)).status == .notFound)
            #expect(server.endpoint.queuedMessageCount(of: id) == 0)
        }
    }

    @Test("the page (naming the first endpoint) and gpoll.js are served, beside gpoll on the same connection")
    func servesPageAndScript() async throws {
        try await withBrowserServer(demo: .init(), path: "/chat/room") { server in
            let connection = try await server.connect()
            defer { Task { await connection.close() } }
            let page = try await connection.request("/")
            #expect(page.status == .ok)
            #expect(page.headers.value("Content-Type") == "text/html; charset=utf-8")
            #expect(page.text.contains(#"<meta name="gpoll-endpoint" content="/chat/room">"#))
            #expect(!page.text.contains(DemoSite.endpointMarker))
            let script = try await connection.request("/gpoll.js")
            #expect(script.status == .ok && script.text == EmbeddedDemo.script)
            #expect(script.headers.value("Content-Type") == "text/javascript; charset=utf-8")
            #expect(try await connection.request("/gpoll.js", method: .POST, body: []).status == .methodNotAllowed)
            #expect(try await connection.request("/nothing").status == .notFound)
            let id = try await server.handshake(connection, path: "/chat/room")
            try await server.publish("via admin", to: "/publish/chat/room")
            #expect(try await connection.request(server.pollTarget(id, path: "/chat/room")).text == "via admin")
        }
    }

    @Test("POST /demo/publish publishes to the first endpoint; 1 KiB at most (413), at the set rate (429 with Retry-After)")
    func publishRoute() async throws {
        try await withBrowserServer(demo: .init(maximumMessageBytes: 1024, publishBurst: 2, publishesPerSecond: 0.001)) { server in
            let connection = try await server.connect()
            defer { Task { await connection.close() } }
            let id = try await server.handshake(connection)
            let publisher = try await server.connect()
            defer { Task { await publisher.close() } }
            #expect(try await publisher.request("/demo/publish", method: .POST, body: Array(repeating: UInt8(ascii: "a"), count: 1025)).status == .payloadTooLarge)
            #expect(try await publisher.request("/demo/publish", method: .GET).status == .methodNotAllowed)
            let full = Array(repeating: UInt8(ascii: "b"), count: 1024)
            #expect(try await publisher.request("/demo/publish", method: .POST, body: full).status == .noContent)
            #expect(try await publisher.request("/demo/publish", method: .POST, body: Array("hi".utf8)).status == .noContent)
            let limited = try await publisher.request("/demo/publish", method: .POST, body: Array("more".utf8))
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers.value("Retry-After").flatMap(Int.init).map { $0 >= 1 } == true, "\(limited.headers)")
            #expect(try await connection.request(server.pollTarget(id)).body == full)
            #expect(try await connection.request(server.pollTarget(id) + "&ack=1").text == "hi")
            #expect(server.endpoint.statistics.publishedMessages == 2, "neither the refused nor the oversized message was published")
        }
    }

    @Test("gpoll-server --demo --cors-origin: the page is served; a bad origin is a clear error")
    func commandLine() async throws {
        let (helpStatus, help) = try await CommandTests.run(["--help"])
        #expect(helpStatus == .exited(0) && help.contains("--cors-origin") && help.contains("--demo") && help.contains("/demo/publish"))
        let (status, output) = try await CommandTests.run(["--cors-origin", "example.com", "--port", "0", "--admin-port", "0"])
        #expect(status != .exited(0))
        #expect(output.contains("--cors-origin") && output.contains("http://"), "\(output)")

        let (server, gpollPort, _) = try await CommandTests.start(["--demo", "--cors-origin", "http://127.0.0.1:9000"])
        defer { server.send(.terminate) }
        let connection = try await TestConnection.connect(port: gpollPort)
        defer { Task { await connection.close() } }
        let page = try await connection.request("/", headers: [("Origin", "http://127.0.0.1:9000")])
        #expect(page.status == .ok && page.text.contains("gpoll demo chat"))
        let handshake = try await connection.request("/poll?client-id=0", headers: [("Origin", "http://127.0.0.1:9000")])
        #expect(handshake.headers.value("Access-Control-Allow-Origin") == "http://127.0.0.1:9000")
    }
}
