import Foundation
@testable import GPollConformance
import GPollCore
import GPollServer
import GPollSpec
import GPollTestSupport
import GPollWire
import Testing

/// The whole suite against the reference server at settings the Spec allows, the
/// edges included (B = 1, T = 0, E = 0, T and E of one second, no second endpoint),
/// one row under CPU load: a correct server gets nothing but PASS and the SKIPs its
/// settings declare. A subset of the full matrix, chosen so that every value of B,
/// T and E and both endpoint layouts occur; `Conformance/run-matrix.sh` runs all of it.
@Suite(.serialized) struct MatrixTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var buffer: Int
        /// T in whole seconds; 0: polls never time out.
        var timeout: Int
        /// E in whole seconds; 0: never; nil: the tester is not told (the server never expires).
        var expiry: Int?
        var secondEndpoint: Bool
        var underLoad = false

        var testDescription: String {
            "B=\(buffer) T=\(timeout) E=\(expiry.map(String.init) ?? "unset")\(secondEndpoint ? " two endpoints" : " one endpoint")\(underLoad ? " under CPU load" : "")"
        }
    }

    static let rows: [Row] = [
        Row(buffer: 1, timeout: 0, expiry: 0, secondEndpoint: true),
        Row(buffer: 1, timeout: 1, expiry: 1, secondEndpoint: false),
        Row(buffer: 1, timeout: 1, expiry: 0, secondEndpoint: true, underLoad: true),
        Row(buffer: 2, timeout: 1, expiry: nil, secondEndpoint: true),
        Row(buffer: 2, timeout: 0, expiry: 1, secondEndpoint: false),
        Row(buffer: 100, timeout: 30, expiry: nil, secondEndpoint: true),
        Row(buffer: 100, timeout: 1, expiry: 0, secondEndpoint: false),
    ]

    @Test(arguments: rows)
    func referenceServerPassesAtTheseSettings(_ row: Row) async throws {
        try await LoadGate.exclusive {
            try await CPULoad.during(processes: row.underLoad ? 2 : 0) { try await run(row) }
        }
    }

    func run(_ row: Row) async throws {
        let configuration = BroadcasterConfiguration(
            clientBufferCapacity: row.buffer,
            pollTimeout: row.timeout == 0 ? nil : .seconds(row.timeout),
            idleExpiry: row.expiry.flatMap { $0 == 0 ? nil : .seconds($0) })
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0)),
            endpoints: [try GPollEndpoint(path: "/poll", configuration: configuration),
                        try GPollEndpoint(path: "/poll2", configuration: configuration)])
        try await server.start()

        var options = RunOptions(pollURL: "http://127.0.0.1:\(server.port!)/poll")
        options.publishURL = "http://127.0.0.1:\(server.adminPort!)/publish/poll"
        if row.secondEndpoint {
            options.secondEndpoint = "http://127.0.0.1:\(server.port!)/poll2"
            options.secondPublishURL = "http://127.0.0.1:\(server.adminPort!)/publish/poll2"
        }
        options.clientBuffer = row.buffer
        options.pollTimeout = Double(row.timeout)
        options.idleExpiry = row.expiry.map(Double.init)
        options.strict = true
        let client = try WireClient()
        let runner = await ConformanceRunner(catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.all, settings: try options.settings())
            .probed(client: client)
        // What the settings declare: the skips that the plan names before anything runs.
        let declared = Dictionary(uniqueKeysWithValues: runner.plan(CaseSelection()).compactMap { planned in
            planned.skipReason.map { (planned.entry.id, $0) }
        })
        let results = await runner.run(CaseSelection(), client: client)
        await client.shutdown()
        await server.shutdown()

        #expect(results.count == EmbeddedCatalog.catalog.activeCases(on: .server).count)
        for result in results {
            if let reason = declared[result.id] {
                #expect(result.outcome == .skip && result.reason == reason, "\(row): \(Harness.describe(result))")
            } else {
                #expect(result.outcome == .pass, "\(row): \(Harness.describe(result))")
            }
        }
        // The settings' own edges are honoured, not merely survived.
        if row.timeout == 0 { #expect(declared["timeout/001"] != nil, "T = 0: the timeout cases are skipped") }
        if row.expiry == 0 { #expect(declared["limits/001"] != nil, "E = 0: the expiry cases are skipped") }
        if !row.secondEndpoint { #expect(declared["notfound/009"] != nil, "no second endpoint: its cases are skipped") }
    }
}

/// Busy processes that keep the machine's cores occupied while a row runs, started
/// and stopped by their pids.
enum CPULoad {
    /// Runs `body` while `count` busy loops run, and kills them after it, also when it throws.
    static func during<T>(processes count: Int, _ body: () async throws -> T) async throws -> T {
        var loops: [RunningProgram] = []
        do {
            for _ in 0..<count {
                loops.append(try await RunningProgram.start("/bin/sh", ["-c", "while :; do :; done"]))
            }
            let value = try await body()
            for loop in loops { await loop.stop() }
            return value
        } catch {
            for loop in loops { await loop.stop() }
            throw error
        }
    }
}
