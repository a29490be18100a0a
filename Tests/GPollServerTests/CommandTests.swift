import Foundation
import GPollCore
import GPollServer
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

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let binary = try #require(binary, "build gpoll-server first (swift build builds it with the tests)")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("bad arguments exit non-zero with a clear message", arguments: [
        (["--endpoint", "poll"], "must start with '/'"),
        (["--endpoint", "/a", "--endpoint", "/a"], "given twice"),
        (["--client-buffer", "0"], "client buffer"),
        (["--poll-timeout", "-1"], "--poll-timeout"),
        (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key"),
        (["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem", "--port", "0", "--admin-port", "0"], "cannot read the TLS certificate"),
        (["--log-level", "loud"], "--log-level"),
        (["--max-clients", "0"], "client limit"),
    ])
    func badArguments(arguments: [String], expected: String) throws {
        let (status, output) = try Self.run(arguments)
        #expect(status != 0)
        #expect(output.contains(expected), "\(output)")
        #expect(!output.contains("Fatal error"))
    }

    @Test("--help explains the publish design")
    func help() throws {
        let (status, output) = try Self.run(["--help"])
        #expect(status == 0)
        #expect(output.contains("/publish"))
        #expect(output.contains("--admin-port"))
        #expect(output.contains("loopback"))
        #expect(output.contains("--no-ack") && output.contains("--no-advertise") && output.contains("GPoll-Sequence"))
    }

    /// Starts `gpoll-server` with these arguments (ports 0) and reads the bound ports from its start-up log.
    static func start(_ arguments: [String]) throws -> (process: Process, gpollPort: Int, adminPort: Int) {
        let binary = try #require(Self.binary, "build gpoll-server first")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--port", "0", "--admin-port", "0"] + arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The start-up log names the bound addresses: read until both listeners' lines.
        var log = ""
        func port(after marker: String) -> Int? {
            guard let line = log.split(separator: "\n").first(where: { $0.contains(marker) }),
                  let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            else { return nil }
            return Int(line[range].split(separator: ":").last!)
        }
        let reader = pipe.fileHandleForReading
        while port(after: "admin listener started") == nil {
            let data = reader.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
        }
        guard let gpollPort = port(after: "gpoll listener started"), let adminPort = port(after: "admin listener started") else {
            process.terminate()
            throw TestClientError(description: "no start-up lines in: \(log)")
        }
        return (process, gpollPort, adminPort)
    }

    @Test("--no-advertise and --no-ack: the gpoll/1 handshake object, no GPoll-Sequence, ack ignored")
    func gpoll1Mode() async throws {
        let (process, gpollPort, adminPort) = try Self.start(["--no-advertise", "--no-ack"])
        defer { if process.isRunning { process.terminate() } }
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
        let (process, gpollPort, adminPort) = try Self.start(["--poll-timeout", "0"])
        defer { if process.isRunning { process.terminate() } }
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
        kill(process.processIdentifier, SIGTERM)
        let response = try await pending.get()
        #expect(response.status == .noContent)
        process.waitUntilExit()
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        await connection.close()
    }
}
