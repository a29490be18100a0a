import Foundation
@testable import GPollConformance
import GPollSpec
import GPollWire
import NIOCore

/// Runs cases against a fake server and returns their results.
enum Harness {
    static let catalog = EmbeddedCatalog.catalog

    static func settings(for server: FakeGPollServer, strict: Bool = false) throws -> Settings {
        var options = RunOptions(pollURL: server.pollURL)
        options.publishURL = server.publishURL
        options.publishHeaders = ["Authorization: Bearer \(server.config.publishToken)"]
        options.secondEndpoint = server.secondURL
        options.secondPublishURL = server.secondPublishURL
        options.clientBuffer = server.config.clientBuffer
        options.pollTimeout = server.config.pollTimeout.map { Double($0.nanoseconds) / 1e9 }
        // A fake without expiry says so (0), so that long cases are judged, not inconclusive.
        options.idleExpiry = server.config.idleExpiry.map { Double($0.nanoseconds) / 1e9 } ?? 0
        options.maxClients = server.config.maxClients
        options.strict = strict
        options.stress = true
        options.timeout = 10
        options.settleMs = 100
        return try options.settings()
    }

    /// `lane`: where a lone publishing case runs (the fake server has two endpoints, so
    /// both lanes exist).
    static func run(_ ids: [String], excluding: [String] = [], against server: FakeGPollServer, strict: Bool = false,
                    lane: Lane = .b) async throws -> [CaseResult] {
        let client = try WireClient()
        var runner = ConformanceRunner(catalog: catalog, registry: CaseRegistry.all, settings: try settings(for: server, strict: strict))
        runner.preferredLane = lane
        let selection = CaseSelection(include: try ids.map { try Glob($0) }, exclude: try excluding.map { try Glob($0) })
        let results = await runner.run(selection, client: client)
        await client.shutdown()
        return results
    }

    static func describe(_ result: CaseResult) -> String {
        var text = "\(result.outcome.rawValue) \(result.id) (lane \(result.lane ?? "-"))"
        if let reason = result.reason { text += " reason: \(reason)" }
        if let f = result.finding { text += " [\(f.requirement ?? "-")] expected \(f.expected); got \(f.actual)" }
        text += "\n" + ConsoleReport.render(result.transcript.suffix(12), indent: "   ")
        return text
    }
}

