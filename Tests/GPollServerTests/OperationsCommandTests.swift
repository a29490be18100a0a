import Foundation
import GPollCore
import GPollServer
import GPollTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The gpoll-server executable as an operator meets it: settings from the
/// environment and a file, exit 2 for bad ones, the start log, JSON logs, and the
/// default idle expiry at work.
@Suite("gpoll-server in operation")
struct OperationsCommandTests {
    /// Starts gpoll-server on free ports and reads its log until the admin listener
    /// started; returns the lines so far and both ports.
    static func start(_ arguments: [String]) async throws -> (server: RunningProgram, log: [String], gpollPort: Int, adminPort: Int) {
        let binary = try #require(CommandTests.binary, "build gpoll-server first")
        let server = try await RunningProgram.start(binary.path, ["--port", "0", "--admin-port", "0"] + arguments)
        var log: [String] = []
        func port(after marker: String) -> Int? {
            guard let line = log.first(where: { $0.contains(marker) }),
                  let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            else { return nil }
            return Int(line[range].split(separator: ":").last!)
        }
        for await line in server.lines {
            log.append(line)
            if port(after: "admin listener started") != nil { break }
        }
        guard let gpollPort = port(after: "gpoll listener started"), let adminPort = port(after: "admin listener started") else {
            server.send(.terminate)
            throw TestClientError(description: "no start-up lines in: \(log.joined(separator: "\n"))")
        }
        return (server, log, gpollPort, adminPort)
    }

    static func hardFileLimit() -> UInt64 {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        return UInt64(limit.rlim_max)
    }

    @Test("--help lists every setting of the model under its flag, with its help")
    func helpListsEverySetting() async throws {
        let (status, output) = try await CommandTests.run(["--help"])
        #expect(status == .exited(0))
        let flattened = output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for setting in GPollServerSettings.all {
            #expect(output.contains(setting.flag + " ") || output.contains(setting.flag + "\n"), "\(setting.flag)")
            let words = setting.help.split(separator: " ").prefix(6).joined(separator: " ")
            #expect(flattened.contains(words), "\(setting.name): \(words)")
        }
    }

    @Test("bad settings from the environment or the file exit 2, naming the setting, before anything listens")
    func badSettingsExit2() async throws {
        let fromEnvironment = try await CommandTests.run(["--port", "0", "--admin-port", "0"], environment: ["GPOLL_POLL_TIMEOUT": "soon"])
        #expect(fromEnvironment.status == .exited(2))
        #expect(fromEnvironment.output.contains("GPOLL_POLL_TIMEOUT") && fromEnvironment.output.contains("--poll-timeout"), "\(fromEnvironment.output)")
        #expect(!fromEnvironment.output.contains("listener started"))

        let file = try SettingsTests.SettingsFile(#"{"client-buffer": 0, "log-format": "xml"}"#)
        let fromFile = try await CommandTests.run(["--config", file.path, "--port", "0", "--admin-port", "0"])
        #expect(fromFile.status == .exited(2))
        #expect(fromFile.output.contains("\"client-buffer\"") && fromFile.output.contains("\"log-format\""), "\(fromFile.output)")
        #expect(!fromFile.output.contains("listener started"))

        let open = try await CommandTests.run(["--admin-host", "0.0.0.0", "--port", "0", "--admin-port", "0"])
        #expect(open.status == .exited(2))
        #expect(open.output.contains("--admin-token"), "\(open.output)")
        #expect(!open.output.contains("listener started"))
    }

    @Test("in the running server a flag beats the file: the handshake advertises the flag's T, the file's B, E = 2T + 10")
    func flagOverFile() async throws {
        let file = try SettingsTests.SettingsFile(#"{"poll-timeout": 11, "client-buffer": 9}"#)
        let (server, _, gpollPort, _) = try await Self.start(["--config", file.path, "--poll-timeout", "3"])
        defer { server.send(.terminate) }
        let connection = try await TestConnection.connect(port: gpollPort)
        let handshake = try await connection.request("/poll?client-id=0")
        #expect(handshake.text.contains(#""poll-timeout":3,"client-buffer":9,"idle-expiry":16"#), "\(handshake.text)")
        await connection.close()
    }

    @Test("--log-format json: every line is a JSON object; the start line lists the listeners and settings")
    func jsonLogs() async throws {
        let (server, log, _, _) = try await Self.start(["--log-format", "json"])
        server.send(.terminate)
        _ = try await server.wait()
        for line in log {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["level"] is String && object["message"] is String && object["time"] is String, "\(line)")
        }
        let start = try #require(log.first { $0.contains("gpoll-server starting") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(start.utf8)) as? [String: Any])
        #expect(object["gpoll.listen"] as? String == "http://127.0.0.1:0")
        #expect(object["gpoll.admin"] as? String == "http://127.0.0.1:0")
        #expect((object["gpoll.idle_expiry"] as? String)?.hasPrefix("70.0 (default") == true, "\(start)")
        let limit = FileDescriptorLimit.defaultClientLimit(endpoints: 1, softLimit: Self.hardFileLimit())
        #expect((object["gpoll.max_clients"] as? String)?.hasPrefix("\(limit) (default") == true, "\(start)")
        #expect(object["gpoll.admin_token"] as? String == "none")
    }

    @Test("the default idle expiry evicts a flood of registrations that never poll")
    func defaultExpiryEvictsFlood() async throws {
        // T = 0 (polls wait for ever) gives the shortest default E: 10 s.
        let (server, log, gpollPort, adminPort) = try await Self.start(["--poll-timeout", "0"])
        defer { server.send(.terminate) }
        #expect(log.contains { $0.contains("gpoll-server starting") && $0.contains("10.0 (default: 2T + 10)") }, "\(log)")
        let flood = 400
        var ids: [ClientID] = []
        let connections = try await (0..<4).asyncMap { _ in try await TestConnection.connect(port: gpollPort) }
        for round in 0..<(flood / connections.count) {
            for (index, connection) in connections.enumerated() {
                let response = try await connection.request("/poll?client-id=0")
                if round == 0 && index == 0 {
                    #expect(response.text.contains(#""idle-expiry":10"#), "\(response.text)")
                }
                ids.append(try HandshakeBody.decode(response.body).get())
            }
        }
        let admin = try await TestConnection.connect(port: adminPort)
        var scrape = Scrape(try await admin.request("/metrics").text)
        // Every registration is live or already expired: on a loaded machine the
        // flood can take longer than E, and its first clients go before the scrape.
        let live = try #require(scrape.value("gpoll_clients", ["endpoint": "/poll"]))
        let expiredSoFar = scrape.count("gpoll_evictions_total", ["endpoint": "/poll", "cause": "idle"])
        #expect(live > 0 && live + expiredSoFar == Double(flood), "live \(live), expired \(expiredSoFar)")
        let clock = ContinuousClock(), deadline = clock.now + .seconds(40)
        while scrape.value("gpoll_clients", ["endpoint": "/poll"]) != 0, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            scrape = Scrape(try await admin.request("/metrics").text)
        }
        #expect(scrape.value("gpoll_clients", ["endpoint": "/poll"]) == 0)
        #expect(scrape.count("gpoll_evictions_total", ["endpoint": "/poll", "cause": "idle"]) == Double(flood))
        let expired = try await connections[0].request("/poll?client-id=\(ids[0])")
        #expect(expired.status == .notFound && expired.headers.value("GPoll-Reason") == "expired")
        await admin.close()
        for connection in connections { await connection.close() }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
