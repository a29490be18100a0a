@testable import GPollBench
import GPollCore
import GPollServer
import Testing

@Suite("End to end against the reference server")
struct EndToEndTests {
    /// Starts the reference server on 127.0.0.1 port 0 (admin port 0), runs `body`, always shuts it down.
    /// `paths`: the endpoints served (the first is the one the bench loads).
    func withServer<T>(clientBuffer: Int = 100, paths: [String] = ["/poll"], _ body: (Int, Int) async throws -> T) async throws -> T {
        let endpoints = try paths.map {
            try GPollEndpoint(path: $0, configuration: BroadcasterConfiguration(clientBufferCapacity: clientBuffer, pollTimeout: .seconds(30)))
        }
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0)),
            endpoints: endpoints
        )
        try await server.start()
        let result: T
        do {
            result = try await body(server.port!, server.adminPort!)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        return result
    }

    @Test("Lock-step, burst 1 and burst 5: every client gets every message once, in order", arguments: [1, 5])
    func lockStep(burst: Int) async throws {
        try await withServer { port, adminPort in
            var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:\(port)/poll", publishURL: "http://127.0.0.1:\(adminPort)/publish")
            options.clients = 20
            options.messages = 10
            options.burst = burst
            options.connectConcurrency = 8
            options.threads = 1
            let report = try await HTTPLoadDriver(configuration: try options.validate().get()).run()
            #expect(report.handshakes == 20)
            #expect(report.published == 10)
            #expect(report.deliveries == 200)
            #expect(report.latencyMs.count == 200)
            #expect(report.clientsAtEnd == 20)
            #expect(report.clientsLost == 0 && report.clientsEvicted == 0)
            #expect(report.missingDeliveries == 0 && report.duplicates == 0 && report.outOfOrder == 0)
            #expect(report.errors == 0, "\(report.errorsByKind)")
            #expect(report.burstsTimedOut == 0)
            #expect(report.failure == nil)
            #expect(report.passed)
            #expect(report.json().contains("\"passed\" : true"))
        }
    }

    @Test("Open loop at a fixed rate delivers everything")
    func openLoop() async throws {
        try await withServer { port, adminPort in
            var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:\(port)/poll", publishURL: "http://127.0.0.1:\(adminPort)/publish")
            options.clients = 10
            options.messages = 20
            options.rate = 200
            options.size = 100
            let report = try await HTTPLoadDriver(configuration: try options.validate().get()).run()
            #expect(report.published == 20)
            #expect(report.deliveries == 200)
            #expect(report.passed, "\(report.text())")
        }
    }

    @Test("A wrong publish path fails the run with the status, and closes everything")
    func publishRefused() async throws {
        try await withServer { port, adminPort in
            var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:\(port)/poll", publishURL: "http://127.0.0.1:\(adminPort)/publish/nowhere")
            options.clients = 3
            options.messages = 2
            let report = try await HTTPLoadDriver(configuration: try options.validate().get()).run()
            #expect(!report.passed)
            #expect(report.failure?.contains("404") == true)
            #expect(report.errorsByKind["publish answered 404"] == 1)
        }
    }

    /// Publishes that reach no client (they go to another endpoint, which answers 200):
    /// the first burst's wait for full delivery ends after --timeout, and the run stops
    /// there, failed, rather than waiting --timeout again for each later burst.
    @Test("A burst not delivered within --timeout stops the run, failed, with the clients short of it")
    func undeliveredBurstStopsTheRun() async throws {
        try await withServer(paths: ["/poll", "/elsewhere"]) { port, adminPort in
            var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:\(port)/poll", publishURL: "http://127.0.0.1:\(adminPort)/publish/elsewhere")
            options.clients = 4
            options.messages = 50
            // Also the publish's answer's limit: 1 s was once too short on a loaded machine.
            options.timeout = 5
            let report = try await HTTPLoadDriver(configuration: try options.validate().get()).run()
            #expect(report.published == 1, "\(report.text())")
            #expect(report.burstsTimedOut == 1 && report.stragglers == 4, "\(report.text())")
            #expect(report.failure?.contains("4 live clients did not get message 1") == true, "\(report.text())")
            #expect(!report.passed)
        }
    }

    @Test("In-process mode: every client enqueues every message")
    func inProcess() throws {
        var options = InProcessOptions()
        options.clients = 300
        options.messages = 20
        options.clientBuffer = 20
        let report = try InProcessBenchmark(options: options).run()
        #expect(report.enqueues == 300 * 20)
        #expect(report.evictions == 0)
        #expect(report.broadcastMs.min <= report.broadcastMs.median && report.broadcastMs.median <= report.broadcastMs.max)
        #expect(report.passed)
    }
}
