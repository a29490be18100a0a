import Foundation
import GPollCore
import GPollServer
import Synchronization
import Testing

/// The built `gpoll` command, run as a process.
final class GPollProcess: Sendable {
    /// The `gpoll` binary next to the test bundle (`swift build --build-tests` builds it).
    static var binary: URL? {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("gpoll")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    /// What a pipe delivered so far, filled by its readability handler.
    private final class Collected: Sendable {
        let data = Mutex(Data())
        var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    }

    private let process: Process
    private let output = Collected()
    private let errors = Collected()

    init(_ arguments: [String], input: Data? = nil) throws {
        let binary = try #require(Self.binary, "build gpoll first (swift build --build-tests builds it)")
        process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let stdin = Pipe()
        process.standardInput = stdin
        let output = self.output, errors = self.errors
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.data.withLock { $0.append(data) }
        }
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            errors.data.withLock { $0.append(data) }
        }
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
    }

    var standardOutput: String { output.text }
    var standardError: String { errors.text }
    var lines: [String] { standardOutput.split(separator: "\n").map(String.init) }

    /// Waits for a line of standard output that satisfies `predicate` (bounded by `timeout`).
    func waitForLine(timeout: Duration = .seconds(30), where predicate: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !lines.contains(where: predicate) {
            guard ContinuousClock.now < deadline, process.isRunning else {
                throw CommandTestError.noSuchLine(standardOutput, standardError)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the process to exit (bounded by `timeout`; killed past it) and returns its status.
    func exitStatus(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw CommandTestError.didNotExit(standardError)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Let the readability handlers take the last bytes.
        try await Task.sleep(for: .milliseconds(100))
        return process.terminationStatus
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }
}

enum CommandTestError: Error {
    case noSuchLine(String, String)
    case didNotExit(String)
}

/// A line of `gpoll listen --json` as an object.
func jsonLine(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}

@Suite("the gpoll command, end to end", .serialized)
struct CommandTests {
    @Test("gpoll listen --json --count 2 prints both messages gpoll publish publishes, then exits 0")
    func listenAndPublish() async throws {
        let reference = try await ReferenceServer.start()
        let listen = try GPollProcess(["listen", "--json", "--count", "2", reference.url])
        try await listen.waitForLine { jsonLine($0)?["event"] as? String == "registered" }
        let first = try GPollProcess(["publish", reference.publishURL, "hello"])
        #expect(try await first.exitStatus() == 0, "\(first.standardError)")
        // A message from standard input, byte for byte: not UTF-8, with a newline.
        let second = try GPollProcess(["publish", reference.publishURL, "-"], input: Data([0xFF, 0x00, 0x0A]))
        #expect(try await second.exitStatus() == 0, "\(second.standardError)")
        let status = try await listen.exitStatus()
        await reference.stop()

        #expect(status == 0, "\(listen.standardError)")
        let objects = listen.lines.compactMap(jsonLine)
        #expect(objects.count == listen.lines.count, "every line is a JSON object: \(listen.standardOutput)")
        #expect(objects.map { $0["event"] as? String } == ["registered", "message", "message", "closed"])
        #expect((objects[0]["client-id"] as? String)?.hasPrefix("0$") == true)
        #expect(objects[1]["data"] as? String == "aGVsbG8=" && objects[1]["text"] as? String == "hello")
        #expect(objects[2]["data"] as? String == Data([0xFF, 0x00, 0x0A]).base64EncodedString() && objects[2]["text"] == nil)
    }

    @Test("gpoll listen prints one message per line, events on standard error, and exits 0 on SIGTERM")
    func listenLinesAndSIGTERM() async throws {
        let reference = try await ReferenceServer.start()
        let url = reference.url
        let listen = try GPollProcess(["listen", url])
        let deadline = ContinuousClock.now + .seconds(30)
        while reference.endpoint.waitingPollCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        _ = reference.endpoint.send(Array("one".utf8))
        _ = reference.endpoint.send(Array("two".utf8))
        try await listen.waitForLine { $0 == "two" }
        listen.signal(SIGTERM)
        let status = try await listen.exitStatus()
        await reference.stop()
        #expect(status == 0)
        #expect(listen.lines == ["one", "two"])
        #expect(listen.standardError.contains("registered at \(url)"))
        #expect(listen.standardError.contains("stopped by SIGTERM"))
        #expect(!listen.standardError.contains("0$"), "the id is a secret and is not printed (CL-25)")
    }

    @Test("gpoll listen --raw ends each message with a NUL byte, newlines kept; SIGINT exits 0")
    func rawAndSIGINT() async throws {
        let reference = try await ReferenceServer.start()
        let listen = try GPollProcess(["listen", "--raw", "--quiet", reference.url])
        let deadline = ContinuousClock.now + .seconds(30)
        while reference.endpoint.waitingPollCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        _ = reference.endpoint.send(Array("line one\nline two".utf8))
        _ = reference.endpoint.send([])
        _ = reference.endpoint.send(Array("3".utf8))
        while listen.standardOutput.utf8.filter({ $0 == 0 }).count < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        listen.signal(SIGINT)
        let status = try await listen.exitStatus()
        await reference.stop()
        #expect(status == 0)
        #expect(listen.standardOutput == "line one\nline two\u{0}\u{0}3\u{0}")
        #expect(listen.standardError.isEmpty, "--quiet: \(listen.standardError)")
    }

    @Test("errors say what to do, with the documented exit codes", arguments: [
        (["listen"], Int32(2), "Missing expected argument"),
        (["listen", "--json", "--raw", "http://127.0.0.1:1/poll"], 2, "choose one"),
        (["listen", "ftp://x/poll"], 2, "not an http:// or https:// URL"),
        (["publish", "http://127.0.0.1:1/publish", "--header", "no colon", "m"], 2, "'Name: value'"),
        (["listen", "--give-up-after", "1", "http://127.0.0.1:1/poll"], 1, "is the server running?"),
        (["publish", "http://127.0.0.1:1/publish", "m"], 1, "Is the server running?"),
    ])
    func errors(arguments: [String], status: Int32, text: String) async throws {
        let command = try GPollProcess(arguments)
        #expect(try await command.exitStatus() == status, "\(command.standardError)")
        #expect(command.standardError.contains(text), "\(command.standardError)")
    }

    @Test("a URL that is not a gpoll endpoint: exit 3 with what the handshake answer lacked")
    func notGPoll() async throws {
        let server = try await ScriptedServer { _, _ in .ok("<html>hello</html>") }
        let listen = try GPollProcess(["listen", "--give-up-after", "1", server.url])
        let status = try await listen.exitStatus()
        await server.stop()
        #expect(status == 3, "\(listen.standardError)")
        #expect(listen.standardError.contains("not a JSON object with client-id"), "\(listen.standardError)")
    }

    @Test("gpoll publish to a wrong URL: exit 3, naming the harness publish URL")
    func publishRefused() async throws {
        let reference = try await ReferenceServer.start()
        let publish = try GPollProcess(["publish", reference.publishURL + "/nothing-here", "m"])
        let status = try await publish.exitStatus()
        await reference.stop()
        #expect(status == 3, "\(publish.standardError)")
        #expect(publish.standardError.contains("harness publish URL"), "\(publish.standardError)")
    }

    @Test("https with a self-signed certificate: exit 4 with advice on --ca-cert; with --ca-cert it listens")
    func tlsTrust() async throws {
        let (certificate, key) = try SelfSignedCertificate.make()
        let endpoint = try GPollEndpoint(path: "/poll")
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0,
                                                    tls: .init(certificateChainPath: certificate, privateKeyPath: key), admin: nil),
            endpoints: [endpoint])
        try await server.start()
        let url = "https://localhost:\(server.port!)/poll"
        let untrusted = try GPollProcess(["listen", "--give-up-after", "1", url])
        let untrustedStatus = try await untrusted.exitStatus()
        let trusted = try GPollProcess(["listen", "--json", "--count", "1", "--ca-cert", certificate, url])
        try await trusted.waitForLine { jsonLine($0)?["event"] as? String == "registered" }
        _ = endpoint.send(Array("over tls".utf8))
        let trustedStatus = try await trusted.exitStatus()
        await server.shutdown()

        #expect(untrustedStatus == 4, "\(untrusted.standardError)")
        #expect(untrusted.standardError.contains("--ca-cert"), "\(untrusted.standardError)")
        #expect(trustedStatus == 0, "\(trusted.standardError)")
        #expect(trusted.lines.compactMap(jsonLine).compactMap { $0["text"] as? String } == ["over tls"])
    }

    @Test("--help shows examples and the exit codes")
    func help() async throws {
        let help = try GPollProcess(["--help"])
        #expect(try await help.exitStatus() == 0)
        #expect(help.standardOutput.contains("gpoll listen --json --count 2") && help.standardOutput.contains("Exit codes"))
        let listenHelp = try GPollProcess(["listen", "--help"])
        #expect(try await listenHelp.exitStatus() == 0)
        #expect(listenHelp.standardOutput.contains("--give-up-after") && listenHelp.standardOutput.contains("registered-again"))
    }
}

/// A self-signed certificate for localhost, made by openssl at test time.
enum SelfSignedCertificate {
    static func make() throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-client-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = directory.appendingPathComponent("key.pem").path
        let certificate = directory.appendingPathComponent("cert.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", key, "-out", certificate,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl failed; CI installs openssl")
        return (certificate, key)
    }
}
