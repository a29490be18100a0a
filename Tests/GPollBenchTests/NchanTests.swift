import Foundation
@testable import GPollBench
import GPollTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@Suite("nchan's long-poll subscriber protocol")
struct NchanTests {
    @Test("A 200's Last-Modified and Etag become the next poll's If-Modified-Since and If-None-Match")
    func cursor() throws {
        var response = HTTPHeaders()
        response.add(name: "Last-Modified", value: "Tue, 01 Dec 2026 12:05:50 GMT")
        response.add(name: "Etag", value: "3")
        let cursor = try #require(NchanCursor(responseHeaders: response))
        var request = HTTPHeaders([("Host", "h"), ("If-None-Match", "2")])
        cursor.apply(to: &request)
        #expect(request["If-Modified-Since"] == ["Tue, 01 Dec 2026 12:05:50 GMT"])
        #expect(request["If-None-Match"] == ["3"])
        #expect(request["Host"] == ["h"])
        #expect(NchanCursor(responseHeaders: HTTPHeaders([("Etag", "3")])) == nil)
        #expect(NchanCursor(responseHeaders: HTTPHeaders([("Last-Modified", "x")])) == nil)
    }

    @Test("The process probe reads this process's CPU time and memory from /proc")
    func probe() throws {
        let probe = ServerProcessProbe(pid: getpid())
        let memory = try #require(probe.memoryKB())
        #expect(memory > 1000)
        let before = try #require(probe.cpuSeconds())
        var x: UInt64 = 1
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .milliseconds(300) { x = x &* 6364136223846793005 &+ 1 }
        #expect(x != 0)
        let after = try #require(probe.cpuSeconds())
        #expect(after > before)
        #expect(ServerProcessProbe(pid: Int32.max).cpuSeconds() == nil)
    }

    /// nginx with the nchan module from Debian's nginx-light and libnginx-mod-nchan
    /// (.ci/run installs them), one process (no master) so that stopping it by pid
    /// stops all of it, on a free loopback port.
    @Test("Against nchan itself: every client gets every message once, in order; CPU and memory are read")
    func againstNchan() async throws {
        let module = "/usr/lib/nginx/modules/ngx_nchan_module.so"
        let nginx = try #require(Program.find("nginx") ?? ["/usr/sbin/nginx"].first { access($0, X_OK) == 0 },
                                 "nginx is not installed: apt-get install -y nginx-light libnginx-mod-nchan")
        try #require(access(module, R_OK) == 0, "the nchan module is missing: apt-get install -y libnginx-mod-nchan")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-bench-nchan-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try await Self.freePort()
        try """
            load_module \(module);
            daemon off;
            master_process off;
            pid \(directory)/nginx.pid;
            error_log \(directory)/logs/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(directory)/body;
                server {
                    listen 127.0.0.1:\(port);
                    location = /sub { nchan_subscriber longpoll; nchan_channel_id t; nchan_subscriber_first_message oldest; }
                    location = /pub { nchan_publisher; nchan_channel_id t; }
                }
            }
            """.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        let server = try await RunningProgram.start(nginx, ["-p", directory, "-c", directory + "/nginx.conf"])
        do {
            try await Self.waitUntilListening(port: port)
            var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:\(port)/sub", publishURL: "http://127.0.0.1:\(port)/pub")
            options.protocolKind = .nchan
            options.clients = 20
            options.messages = 10
            options.threads = 1
            options.hold = 0.3
            options.serverPID = server.processIdentifier
            let report = try await HTTPLoadDriver(configuration: try options.validate().get()).run()
            #expect(report.passed, "\(report.text())")
            #expect(report.deliveries == 200)
            #expect(report.duplicates == 0 && report.outOfOrder == 0 && report.missingDeliveries == 0)
            #expect(report.protocolKind == "nchan")
            let usage = try #require(report.server)
            #expect((usage.cpuSeconds ?? -1) >= 0)
            #expect((usage.memoryIdleKB ?? 0) > 0 && (usage.memoryWaitingKB ?? 0) > 0)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("--protocol nchan against a gpoll server fails clearly: a 200 without nchan's validators")
    func nchanAgainstGPoll() async throws {
        // A gpoll endpoint reads a poll without client-id as a handshake: 200 with no Etag.
        try await EndToEndTests().withServer { port, adminPort in
            var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:\(port)/poll", publishURL: "http://127.0.0.1:\(adminPort)/publish")
            options.protocolKind = .nchan
            options.clients = 2
            options.messages = 1
            options.timeout = 3
            let report = try await HTTPLoadDriver(configuration: try options.validate().get()).run()
            #expect(!report.passed)
            #expect(report.errorsByKind.keys.contains { $0 == "nchan 200 without Last-Modified and Etag" }, "\(report.errorsByKind)")
        }
    }

    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    static func waitUntilListening(port: Int) async throws {
        for _ in 0..<100 {
            if (try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).flatMap { $0.close() }.get()) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("nginx did not listen on port \(port) within 5 s")
        throw CancellationError()
    }
}
