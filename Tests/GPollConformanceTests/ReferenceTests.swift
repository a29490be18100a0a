import Foundation
@testable import GPollConformance
import GPollCore
import GPollServer
import GPollSpec
import GPollTestSupport
import GPollWire
import JUnitXML
import Testing

/// The reference server, in-process on loopback port 0, with short T and E.
struct ReferenceServer {
    let server: GPollServer
    var maxClients: Int? = nil
    var pollURL: String { "http://127.0.0.1:\(server.port!)/poll" }
    var secondURL: String { "http://127.0.0.1:\(server.port!)/poll2" }
    var publishURL: String { "http://127.0.0.1:\(server.adminPort!)/publish/poll" }
    var secondPublishURL: String { "http://127.0.0.1:\(server.adminPort!)/publish/poll2" }
    // E = 2 s (run-reference.sh uses 1 s): other suites load the machine while this one runs,
    // and cases that hold an idle client while publishing B messages must finish within E.
    static let buffer = 100, timeout = 2.0, expiry = 2.0

    static func start(maxClients: Int? = nil) async throws -> ReferenceServer {
        let settings = BroadcasterConfiguration(clientBufferCapacity: buffer, pollTimeout: .seconds(timeout),
                                                idleExpiry: .seconds(expiry), maxClients: maxClients)
        _ = 0
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0)),
            endpoints: [try GPollEndpoint(path: "/poll", configuration: settings), try GPollEndpoint(path: "/poll2", configuration: settings)])
        try await server.start()
        return ReferenceServer(server: server, maxClients: maxClients)
    }

    func options(strict: Bool) -> RunOptions {
        var options = RunOptions(pollURL: pollURL)
        options.publishURL = publishURL
        options.secondEndpoint = secondURL
        options.secondPublishURL = secondPublishURL
        options.clientBuffer = Self.buffer
        options.pollTimeout = Self.timeout
        options.idleExpiry = Self.expiry
        options.maxClients = maxClients
        options.strict = strict
        options.settleMs = 50
        return options
    }
}

/// Every case against the reference server, and the command end to end.
@Suite(.serialized) struct ReferenceTests {
    @Test(arguments: [false, true])
    func referenceServerPassesEveryCase(strict: Bool) async throws {
        try await LoadGate.exclusive { try await referenceServerRun(strict: strict) }
    }

    func referenceServerRun(strict: Bool) async throws {
        let reference = try await ReferenceServer.start()
        let client = try WireClient()
        let runner = ConformanceRunner(catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.all, settings: try reference.options(strict: strict).settings())
        let results = await runner.run(CaseSelection(), client: client)
        await client.shutdown()
        await reference.server.shutdown()
        #expect(results.count == EmbeddedCatalog.catalog.activeCases(on: .server).count)
        // The client-limit cases need a server that fills faster than E empties it: see the next test.
        let declared = EmbeddedCatalog.catalog.activeCases(on: .server).filter { $0.needs.contains(.maxClients) || $0.needs.contains(.stress) }.map(\.id)
        #expect(results.filter { $0.outcome == .skip }.map(\.id) == declared)
        for result in results where result.outcome != .skip {
            #expect(result.outcome == .pass, "\(Harness.describe(result))")
        }
        // Speed is measured by Conformance/run-reference.sh, not asserted here: a
        // pass/fail test must not depend on how busy the machine is.
    }

    @Test func clientLimitCasesPassOnALimitedReferenceServer() async throws {
        try await LoadGate.exclusive { try await clientLimitRun() }
    }

    func clientLimitRun() async throws {
        let reference = try await ReferenceServer.start(maxClients: 200)
        let client = try WireClient()
        var options = reference.options(strict: true)
        options.maxClients = 200
        let runner = ConformanceRunner(catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.all, settings: try options.settings())
        let results = await runner.run(CaseSelection(include: [try Glob("limits/00[78]"), try Glob("transport/013")]), client: client)
        await client.shutdown()
        await reference.server.shutdown()
        #expect(results.count == 3)
        for result in results { #expect(result.outcome == .pass, "\(Harness.describe(result))") }
    }

    static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gpoll-conform")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/gpoll-conform")
    }

    /// Runs the gpoll-conform binary; its standard output and error, interleaved. The
    /// deadline only keeps a hung run from hanging the suite: the stress tier takes minutes.
    static func runBinary(_ arguments: [String], timeout: Duration = .seconds(600)) async throws -> (TerminationStatus, String) {
        let run = try await Program.run(binary.path, arguments, timeout: timeout, standardError: .combinedWithOutput)
        return (run.status, run.timedOut ? run.stdout + "\n(killed: still running after \(timeout))" : run.stdout)
    }

    static func arguments(_ options: RunOptions) -> [String] {
        var out = [options.pollURL]
        if let b = options.clientBuffer { out += ["--client-buffer", String(b)] }
        if let p = options.publishURL { out += ["--publish-url", p] }
        for h in options.publishHeaders { out += ["--publish-header", h] }
        if let s = options.secondEndpoint { out += ["--second-endpoint", s] }
        if let s = options.secondPublishURL { out += ["--second-publish-url", s] }
        if let t = options.pollTimeout { out += ["--poll-timeout", String(t)] }
        if let e = options.idleExpiry { out += ["--idle-expiry", String(e)] }
        if let m = options.maxClients { out += ["--max-clients", String(m)] }
        return out
    }

    @Test func binaryPassesAgainstTheReferenceAndWritesValidJUnit() async throws {
        try await LoadGate.exclusive { try await binaryRun() }
    }

    func binaryRun() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            Issue.record("gpoll-conform is not built at \(Self.binary.path)")
            return
        }
        let reference = try await ReferenceServer.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-conform-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let junit = directory.appendingPathComponent("report.xml").path, json = directory.appendingPathComponent("report.json").path
        let (code, output) = try await Self.runBinary(Self.arguments(reference.options(strict: true)) + ["--strict", "--settle-ms", "50", "--junit", junit, "--json", json])
        await reference.server.shutdown()
        #expect(code == .exited(0), "\(output)")
        let xml = try [UInt8](Data(contentsOf: URL(fileURLWithPath: junit)))
        #expect(try SchemaFiles.validate(xml) == [])
        // All but the client-limit cases (their own server) and the stress tier (off by default).
        let skipped = EmbeddedCatalog.catalog.activeCases(on: .server).filter { $0.needs.contains(.maxClients) || $0.needs.contains(.stress) }.count
        #expect(output.contains("gpoll-conform: \(EmbeddedCatalog.catalog.activeCases(on: .server).count - skipped) passed, 0 failed"), "\(output.suffix(300))")
        #expect(FileManager.default.fileExists(atPath: json))
    }

    @Test func binaryExitsOneAgainstADefectiveServer() async throws {
        let server = FakeGPollServer(defects: [.noPercentDecoding])
        try await server.start()
        let options = try Harness.settings(for: server)
        _ = options
        let (code, output) = try await Self.runBinary([server.pollURL, "--publish-url", server.publishURL,
                                                 "--publish-header", "Authorization: Bearer \(server.config.publishToken)",
                                                 "--case", "param/00[12]", "--client-buffer", "4"])
        await server.stop()
        #expect(code == .exited(1), "\(output)")
        #expect(output.contains("[PA-2] MUST"), "\(output)")
        #expect(output.contains("gpoll-conform: 0 passed, 2 failed"), "\(output)")
    }

    @Test func binaryExitsTwoForAClosedPortOrBadUsage() async throws {
        let (closed, message) = try await Self.runBinary(["http://127.0.0.1:1/poll"])
        #expect(closed == .exited(2), "\(message)")
        #expect(message.contains("unreachable"))
        #expect(try await Self.runBinary(["ftp://x/poll"]).0 == .exited(2))
        #expect(try await Self.runBinary(["http://127.0.0.1:1/poll", "--case", "nosuch/*"]).0 == .exited(2))
        #expect(try await Self.runBinary([]).0 == .exited(2))
        let (listCode, listing) = try await Self.runBinary(["--list", "--json"])
        #expect(listCode == .exited(0))
        #expect(listing.contains("\"handshake/001\""))
        #expect(try await Self.runBinary(["--help"]).1.contains("Exit codes"))
    }
}
