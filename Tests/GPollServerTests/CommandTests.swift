import Foundation
import GPollCore
import GPollServer
import GPollTestSupport
import Testing

@Suite("configuration and the gpoll-server command line")
struct CommandTests {
    @Test("library validation rejects bad endpoints and settings")
    func libraryValidation() throws {
        #expect(throws: GPollConfigurationError.self) { try GPollEndpoint(path: "poll") }
        #expect(throws: GPollConfigurationError.self) { try GPollEndpoint(path: "/poll", configuration: BroadcasterConfiguration(clientBufferCapacity: 0)) }
        let a = try GPollEndpoint(path: "/a")
        let a2 = try GPollEndpoint(path: "/a")
        #expect(throws: GPollConfigurationError.self) { try GPollRouter([a, a2]) }
        #expect(throws: GPollConfigurationError.self) {
            try GPollServer(configuration: GPollServerConfiguration(port: 70000), endpoints: [a])
        }
        #expect(throws: GPollConfigurationError.self) {
            try GPollServer(configuration: GPollServerConfiguration(tls: .init(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")), endpoints: [a])
        }
    }

    /// The built `gpoll-server` binary, next to the test bundle.
    static var binary: URL? {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("gpoll-server")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    /// Runs `gpoll-server` to its end: how it ended and its standard output and error, interleaved.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: TerminationStatus, output: String) {
        let binary = try #require(binary, "build gpoll-server first (swift build builds it with the tests)")
        let run = try await Program.run(binary.path, arguments, environment: environment, timeout: .seconds(60), standardError: .combinedWithOutput)
        return (run.status, run.timedOut ? run.stdout + "\n(killed: still running after 60 s)" : run.stdout)
    }

    @Test("bad arguments exit 2 with a clear message", arguments: [
        (["--endpoint", "poll"], "must start with '/'"),
        (["--endpoint", "/a", "--endpoint", "/a"], "given twice"),
        (["--client-buffer", "0"], "client buffer"),
        (["--poll-timeout", "-1"], "--poll-timeout"),
        (["--tls-cert", "/nonexistent.pem"], "tls-cert and tls-key go together"),
        (["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem", "--port", "0", "--admin-port", "0"], "cannot read the TLS certificate"),
        (["--log-level", "loud"], "--log-level"),
        (["--max-clients", "-1"], "--max-clients"),
        (["--port", "eighty"], "--port"),
        (["--no-such-option"], "no-such-option"),
        (["--admin-host", "0.0.0.0"], "--admin-token"),
    ])
    func badArguments(arguments: [String], expected: String) async throws {
        let (status, output) = try await Self.run(arguments)
        #expect(status == .exited(2), "\(output)")
        #expect(output.contains(expected), "\(output)")
        #expect(!output.contains("Fatal error"))
    }

    @Test("--help explains the publish design")
    func help() async throws {
        let (status, output) = try await Self.run(["--help"])
        #expect(status == .exited(0))
        #expect(output.contains("/publish"))
        #expect(output.contains("--admin-port"))
        #expect(output.contains("loopback"))
        #expect(output.contains("--no-ack") && output.contains("--no-advertise") && output.contains("GPoll-Sequence"))
    }

    /// Starts `gpoll-server` with these arguments (ports 0) and reads the bound ports from its start-up log.
    static func start(_ arguments: [String]) async throws -> (server: RunningProgram, gpollPort: Int, adminPort: Int) {
        let binary = try #require(Self.binary, "build gpoll-server first")
        let server = try await RunningProgram.start(binary.path, ["--port", "0", "--admin-port", "0"] + arguments)
        // The start-up log names the bound addresses: read until both listeners' lines.
        var log = ""
        func port(after marker: String) -> Int? {
            guard let line = log.split(separator: "\n").first(where: { $0.contains(marker) }),
                  let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            else { return nil }
            return Int(line[range].split(separator: ":").last!)
        }
        for await line in server.lines {
            log += line + "\n"
            if port(after: "admin listener started") != nil { break }
        }
        guard let gpollPort = port(after: "gpoll listener started"), let adminPort = port(after: "admin listener started") else {
            server.send(.terminate)
            throw TestClientError(description: "no start-up lines in: \(log)")
        }
        return (server, gpollPort, adminPort)
    }

    @Test("--no-advertise and --no-ack: the gpoll/1 handshake object, no GPoll-Sequence, ack ignored")
    func gpoll1Mode() async throws {
        let (server, gpollPort, adminPort) = try await Self.start(["--no-advertise", "--no-ack"])
        defer { server.send(.terminate) }
        let connection = try await TestConnection.connect(port: gpollPort)
        let handshake = try await connection.request("/poll?client-id=0")
        let id = try HandshakeBody.decode(handshake.body).get()
        #expect(handshake.text == #"{"client-id":"\#(id)"}"#)
        let admin = try await TestConnection.connect(port: adminPort)
        #expect(try await admin.request("/publish", method: .POST, body: Array("m".utf8)).status == .noContent)
        let message = try await connection.request("/poll?client-id=\(id)&ack=x")
        #expect(message.text == "m" && message.headers.value("GPoll-Sequence") == nil)
        await admin.close()
        await connection.close()
    }

    @Test("SIGTERM: waiting polls get 204 and the process exits 0")
    func sigterm() async throws {
        let (server, gpollPort, adminPort) = try await Self.start(["--poll-timeout", "0"])
        defer { server.send(.terminate) }
        let connection = try await TestConnection.connect(port: gpollPort)
        let handshake = try await connection.request("/poll?client-id=0")
        let id = try HandshakeBody.decode(handshake.body).get()
        let pending = connection.send("/poll?client-id=\(id)")
        // Wait, through the admin listener's statistics, until the server holds the poll.
        let admin = try await TestConnection.connect(port: adminPort)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while clock.now < deadline {
            let stats = try await admin.request("/stats")
            if stats.text.contains(#""waitingPolls":1"#) { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        await admin.close()
        let started = ContinuousClock.now
        server.send(.terminate)
        let response = try await pending.get()
        #expect(response.status == .noContent)
        let status = try await server.wait()
        // With T = 0 the 204 itself shows that shutdown answered the poll; the bound only
        // catches a process that lingers (generous: a loaded machine is slow, not wrong).
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(status == .exited(0), "it exited, with status 0")
        await connection.close()
    }
}
