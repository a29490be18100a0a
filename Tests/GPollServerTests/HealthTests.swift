import Foundation
import GPollCore
import GPollServer
import NIOCore
import NIOHTTP1
import Testing

@Suite("health and the admin token")
struct HealthTests {
    @Test("/readyz: not ready before start, ready while serving, 503 during shutdown while /healthz stays 200")
    func readiness() async throws {
        let metered = try MeteredServer(endpoints: [("/a", MetricsTests.plain)], shutdownGracePeriod: .seconds(30))
        #expect(!metered.server.isReady, "not started")
        try await metered.server.start()
        #expect(metered.server.isReady)
        let admin = try await TestConnection.connect(port: metered.adminPort)
        let ready = try await admin.request("/readyz")
        #expect(ready.status == .ok && ready.text == "ok\n")
        #expect(try await admin.request("/healthz").status == .ok)
        await admin.close()

        // A poll waits; another connection is half-way through a request, which keeps
        // the gpoll listener draining until the test sends the rest.
        let c = try await metered.connect()
        let id = try await metered.handshake(c, "/a")
        let waiting = c.send("/a?client-id=\(id)")
        try await metered.waitForPolls(1, at: "/a")
        let half = try await metered.connect()
        // Expect: 100-continue shows that the server has read the head (it answers 100 then).
        let pending = half.sendRaw(Array("GET /a?client-id=0 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nab".utf8), responses: 2)
        #expect(try await pending[0].get().status == .continue)
        let adminBeforeShutdown = metered.adminPort

        let server = metered.server
        let shutdown = Task { await server.shutdown() }
        // Shutdown began: the waiting poll got its 204.
        #expect(try await waiting.get().status == .noContent)
        #expect(!metered.server.isReady)
        let during = try await TestConnection.connect(port: adminBeforeShutdown)
        let notReady = try await during.request("/readyz")
        #expect(notReady.status == .serviceUnavailable && notReady.text == "not ready\n")
        #expect(try await during.request("/healthz").status == .ok, "alive while it drains")
        let scrape = Scrape(try await during.request("/metrics").text)
        #expect(scrape.value("gpoll_ready") == 0)
        #expect(scrape.count("gpoll_evictions_total", ["endpoint": "/a", "cause": "shutdown"]) == 1)
        await during.close()

        // The rest of the request: it is answered (and closed), the drain ends, the admin listener closes.
        _ = half.sendRaw(Array("cd".utf8), responses: 0)
        let answer = try await pending[1].get()
        #expect(answer.status == .ok && answer.headers.value("Connection") == "close")
        await shutdown.value
        await #expect(throws: (any Error).self) { try await TestConnection.connect(port: adminBeforeShutdown) }
        await c.close()
        await half.close()
    }

    @Test("with an admin token, a publish needs 'Authorization: Bearer <token>'; reads need none")
    func adminToken() async throws {
        let metered = try MeteredServer(endpoints: [("/a", MetricsTests.plain)], adminToken: "s3cret-token")
        try await metered.server.start()
        defer { Task { await metered.server.shutdown() } }
        let admin = try await TestConnection.connect(port: metered.adminPort)
        let missing = try await admin.request("/publish", method: .POST, body: Array("m".utf8))
        #expect(missing.status == .unauthorized && missing.headers.value("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        for wrong in ["Bearer s3cret-toke", "Bearer s3cret-token2", "Basic s3cret-token", "s3cret-token"] {
            let response = try await admin.request("/publish", method: .POST, body: Array("m".utf8), headers: [("Authorization", wrong)])
            #expect(response.status == .unauthorized, "\(wrong)")
        }
        #expect(try await admin.request("/publish/a", method: .POST, body: Array("m".utf8), headers: [("Authorization", "Bearer s3cret-token")]).status == .noContent)
        #expect(try await admin.request("/stats").status == .ok)
        #expect(try await admin.request("/readyz").status == .ok)
        let scrape = Scrape(try await admin.request("/metrics").text)
        #expect(scrape.count("gpoll_publishes_total", ["endpoint": "/a"]) == 1, "only the authorized publish")
        await admin.close()
    }

    @Test("an admin listener off loopback without a token is refused before anything listens")
    func publicAdminNeedsToken() throws {
        let endpoint = try GPollEndpoint(path: "/a", metrics: .disabled)
        for host in ["0.0.0.0", "::", "192.0.2.1", "example.org"] {
            #expect(throws: GPollConfigurationError.self, "\(host)") {
                try GPollServer(configuration: GPollServerConfiguration(port: 0, admin: .init(host: host, port: 0), metrics: .disabled), endpoints: [endpoint])
            }
            // With a token the same settings are accepted (nothing is bound by init).
            _ = try GPollServer(configuration: GPollServerConfiguration(port: 0, admin: .init(host: host, port: 0, token: "t"), metrics: .disabled), endpoints: [endpoint])
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"] {
            #expect(GPollServerConfiguration.AdminListener.isLoopback(host), "\(host)")
        }
        for host in ["0.0.0.0", "::", "128.0.0.1", "10.0.0.1", "::2", "localhost.example.org", ""] {
            #expect(!GPollServerConfiguration.AdminListener.isLoopback(host), "\(host)")
        }
    }
}
