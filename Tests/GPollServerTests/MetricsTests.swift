import Foundation
import GPollCore
import GPollServer
import NIOCore
import NIOHTTP1
import Prometheus
import Testing

/// One scrape of `GET /metrics`, parsed: each sample by its name and labels.
struct Scrape: CustomStringConvertible {
    let text: String
    private var samples: [String: [([String: String], Double)]] = [:]

    init(_ text: String) {
        self.text = text
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                let inner = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                // Label values here hold no commas or quotes (paths, causes, listeners).
                for pair in inner.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            } else {
                name = series
            }
            samples[String(name), default: []].append((labels, value))
        }
    }

    /// The value of the sample with exactly these labels; nil if there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[name]?.first { $0.0 == labels }?.1
    }

    /// Like ``value(_:_:)``, with 0 for a series not (yet) shown.
    func count(_ name: String, _ labels: [String: String] = [:]) -> Double { value(name, labels) ?? 0 }

    var description: String { text }
}

/// A server whose metrics go to a registry of its own, so counts start at zero.
struct MeteredServer {
    let server: GPollServer
    let endpoints: [GPollEndpoint]
    let registry: PrometheusCollectorRegistry

    init(
        endpoints: [(String, BroadcasterConfiguration)],
        adminToken: String? = nil,
        shutdownGracePeriod: Duration = .seconds(5)
    ) throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = GPollMetrics.prometheus(registry)
        self.registry = registry
        self.endpoints = try endpoints.map { try GPollEndpoint(path: $0.0, configuration: $0.1, metrics: metrics) }
        self.server = try GPollServer(
            configuration: GPollServerConfiguration(
                host: "127.0.0.1", port: 0,
                admin: .init(host: "127.0.0.1", port: 0, token: adminToken),
                shutdownGracePeriod: shutdownGracePeriod,
                metrics: metrics
            ),
            endpoints: self.endpoints
        )
    }

    var port: Int { server.port! }
    var adminPort: Int { server.adminPort! }

    func connect() async throws -> TestConnection { try await TestConnection.connect(port: port) }

    func scrape() async throws -> Scrape {
        let admin = try await TestConnection.connect(port: adminPort)
        defer { Task { await admin.close() } }
        let response = try await admin.request("/metrics")
        #expect(response.status == .ok)
        #expect(response.headers.value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return Scrape(response.text)
    }

    func publish(_ text: String, to path: String) async throws {
        let admin = try await TestConnection.connect(port: adminPort)
        defer { Task { await admin.close() } }
        #expect(try await admin.request("/publish\(path)", method: .POST, body: Array(text.utf8)).status == .noContent)
    }

    func handshake(_ connection: TestConnection, _ path: String) async throws -> ClientID {
        let response = try await connection.request("\(path)?client-id=0")
        #expect(response.status == .ok)
        return try HandshakeBody.decode(response.body).get()
    }

    /// Waits until the endpoint holds `count` waiting polls (the state, not a time).
    func waitForPolls(_ count: Int, at path: String) async throws {
        let endpoint = endpoints.first { $0.path == path }!
        try await waitUntil("\(count) polls wait at \(path)") { endpoint.waitingPollCount == count }
    }
}

@Suite("metrics: GET /metrics after a scripted run")
struct MetricsTests {
    static let plain = BroadcasterConfiguration(clientBufferCapacity: 1, pollTimeout: nil, offersAcknowledgedDelivery: false)

    @Test("handshakes, deliveries, 204s, 404s, evictions by buffer, idle and shutdown, publishes, bytes: exact counts")
    func scriptedRun() async throws {
        // /a: B = 1, polls wait for ever, no expiry. /b: T = 1 s and E = 3 s.
        let timed = BroadcasterConfiguration(clientBufferCapacity: 5, pollTimeout: .seconds(1), idleExpiry: .seconds(3), offersAcknowledgedDelivery: false)
        let metered = try MeteredServer(endpoints: [("/a", Self.plain), ("/b", timed)])
        try await metered.server.start()
        let a = ["endpoint": "/a"], b = ["endpoint": "/b"]

        // Three clients at /a.
        let c1 = try await metered.connect(), c2 = try await metered.connect(), c3 = try await metered.connect()
        let id1 = try await metered.handshake(c1, "/a"), id2 = try await metered.handshake(c2, "/a"), id3 = try await metered.handshake(c3, "/a")
        // id1 waits and takes "one" from the publish; id2 and id3 queue it.
        let waiting1 = c1.send("/a?client-id=\(id1)")
        try await metered.waitForPolls(1, at: "/a")
        try await metered.publish("one", to: "/a")
        #expect(try await waiting1.get().text == "one")
        // id2 polls and takes its queued "one" at once.
        #expect(try await c2.request("/a?client-id=\(id2)").text == "one")
        // "second": id1 and id2 queue it; id3 still holds "one", so B = 1 evicts it.
        try await metered.publish("second", to: "/a")
        let gone = try await c3.request("/a?client-id=\(id3)")
        #expect(gone.status == .notFound && gone.headers.value("GPoll-Reason") == "evicted")
        // An id this server never issued (canonical) and one that is no id at all: both unknown.
        #expect(try await c3.request("/a?client-id=0$\(UUID().uuidString.lowercased())").status == .notFound)
        #expect(try await c3.request("/a?client-id=not-an-id-at-all").status == .notFound)
        // id1 takes "second"; its next poll waits, and a newer poll of id1 supersedes it (204).
        #expect(try await c1.request("/a?client-id=\(id1)").text == "second")
        let superseded = c1.send("/a?client-id=\(id1)")
        try await metered.waitForPolls(1, at: "/a")
        let c4 = try await metered.connect()
        let newer = c4.send("/a?client-id=\(id1)")
        #expect(try await superseded.get().status == .noContent)

        // /b: two clients that never poll expire; a third polls once, times out, then expires too.
        let d = try await metered.connect()
        let idle1 = try await metered.handshake(d, "/b")
        _ = try await metered.handshake(d, "/b")
        let poller = try await metered.handshake(d, "/b")
        #expect(try await d.request("/b?client-id=\(poller)").status == .noContent)
        var scrape = try await metered.scrape()
        let clock = ContinuousClock(), deadline = clock.now + .seconds(20)
        while scrape.count("gpoll_evictions_total", b.merging(["cause": "idle"]) { $1 }) < 3, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            scrape = try await metered.scrape()
        }
        let expired = try await d.request("/b?client-id=\(idle1)")
        #expect(expired.status == .notFound && expired.headers.value("GPoll-Reason") == "expired")
        try await metered.publish("to nobody", to: "/b")

        scrape = try await metered.scrape()
        func at(_ labels: [String: String], _ extra: [String: String] = [:]) -> [String: String] { labels.merging(extra) { $1 } }
        #expect(scrape.count("gpoll_handshakes_total", a) == 3)
        #expect(scrape.count("gpoll_handshakes_total", b) == 3)
        #expect(scrape.count("gpoll_deliveries_total", a) == 3, "one, one, second")
        #expect(scrape.count("gpoll_delivered_bytes_total", a) == 12)
        #expect(scrape.count("gpoll_publishes_total", a) == 2)
        #expect(scrape.count("gpoll_publishes_total", b) == 1)
        #expect(scrape.count("gpoll_publish_duration_seconds_count", a) == 2)
        #expect(scrape.count("gpoll_evictions_total", at(a, ["cause": "buffer"])) == 1)
        #expect(scrape.count("gpoll_evictions_total", at(b, ["cause": "idle"])) == 3)
        #expect(scrape.count("gpoll_polls_not_found_total", at(a, ["reason": "evicted"])) == 1)
        #expect(scrape.count("gpoll_polls_not_found_total", at(a, ["reason": "unknown"])) == 2)
        #expect(scrape.count("gpoll_polls_not_found_total", at(b, ["reason": "expired"])) == 1)
        #expect(scrape.count("gpoll_polls_no_content_total", at(a, ["cause": "superseded"])) == 1)
        #expect(scrape.count("gpoll_polls_no_content_total", at(b, ["cause": "timeout"])) == 1)
        #expect(scrape.value("gpoll_clients", a) == 2)
        #expect(scrape.value("gpoll_clients", b) == 0)
        #expect(scrape.value("gpoll_waiting_polls", a) == 1)
        #expect(scrape.value("gpoll_ready") == 1)
        // c1 to c4 and d on the gpoll listener; six admin connections so far (this scrape's included).
        #expect(scrape.count("gpoll_connections_total", ["listener": "gpoll"]) == 5)
        #expect(scrape.value("gpoll_open_connections", ["listener": "gpoll"]) == 5)
        #expect((scrape.value("process_open_fds") ?? 0) > 0)
        #expect((scrape.value("process_max_fds") ?? 0) >= (scrape.value("process_open_fds") ?? .infinity))

        // Shutdown with id1's newer poll waiting: it gets 204, and the two clients of /a end.
        await metered.server.shutdown()
        #expect(try await newer.get().status == .noContent)
        let final = Scrape(metered.registry.emitToString())
        #expect(final.count("gpoll_polls_no_content_total", at(a, ["cause": "shutdown"])) == 1)
        #expect(final.count("gpoll_evictions_total", at(a, ["cause": "shutdown"])) == 2)
        #expect(final.count("gpoll_evictions_total", at(b, ["cause": "shutdown"])) == 0)
        for connection in [c1, c2, c3, c4, d] { await connection.close() }
    }

    @Test("a connection that ends in an I/O error is counted")
    func connectionErrors() async throws {
        let metered = try MeteredServer(endpoints: [("/a", Self.plain)])
        try await metered.server.start()
        defer { Task { await metered.server.shutdown() } }
        let c = try await metered.connect()
        let id = try await metered.handshake(c, "/a")
        _ = c.send("/a?client-id=\(id)")
        try await metered.waitForPolls(1, at: "/a")
        await c.reset()  // RST while the poll waits: the read fails with ECONNRESET
        try await metered.waitForPolls(0, at: "/a")
        var scrape = try await metered.scrape()
        let clock = ContinuousClock(), deadline = clock.now + .seconds(10)
        // The error is counted before the close it leads to completes (the close future
        // runs on a later turn of the loop): wait for both.
        while scrape.count("gpoll_connection_errors_total", ["listener": "gpoll"]) < 1
            || scrape.value("gpoll_open_connections", ["listener": "gpoll"]) != 0, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            scrape = try await metered.scrape()
        }
        #expect(scrape.count("gpoll_connection_errors_total", ["listener": "gpoll"]) == 1)
        #expect(scrape.value("gpoll_open_connections", ["listener": "gpoll"]) == 0)
    }

    @Test("without a registry /metrics answers 404")
    func noRegistry() async throws {
        let endpoint = try GPollEndpoint(path: "/a", metrics: .disabled)
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0),
                                                    metrics: .disabled),
            endpoints: [endpoint])
        try await server.start()
        let admin = try await TestConnection.connect(port: server.adminPort!)
        #expect(try await admin.request("/metrics").status == .notFound)
        #expect(try await admin.request("/metrics", method: .POST).status == .methodNotAllowed)
        await admin.close()
        await server.shutdown()
    }
}
