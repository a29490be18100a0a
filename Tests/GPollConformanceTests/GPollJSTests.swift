import Foundation
import GPollConformance
import GPollSpec
import GPollTestSupport
import Testing

private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// gpoll.js's Node adapter, which speaks the line protocol of Spec section 19.8.
private let listenAdapter = repositoryRoot.appendingPathComponent("Clients/js/listen.mjs").path
private let gpollJS = repositoryRoot.appendingPathComponent("Clients/js/gpoll.js").path
/// A page that sleeps and wakes, with a stand-in document and window (see the script).
private let wakeScript = repositoryRoot.appendingPathComponent("Tests/GPollConformanceTests/Clients/gpoll_js_wake.mjs").path

/// gpoll.js (Clients/js) under Node passes the client cases. The cases that wait by
/// nature (client/009, 013, 014, 015, 016, 023: 20 s to 2 minutes each) are left to
/// the committed full run, Conformance/reports/gpoll-js/client.txt.
@Suite struct GPollJSTests {
    static let cases = [
        "client/001", "client/002", "client/003", "client/004", "client/005", "client/006", "client/007", "client/008",
        "client/010", "client/011", "client/012", "client/017", "client/018", "client/019", "client/020", "client/021",
        "client/022",
    ]

    /// The path of a Node of version 20 or later, or a recorded issue that says what is missing.
    private func node() async throws -> String? {
        guard let node = Program.find("node") else {
            Issue.record("node is not on PATH: gpoll.js's client cases need Node 20 or later (Debian: apt-get install nodejs)")
            return nil
        }
        let version = try await Program.run(node, ["--version"], timeout: .seconds(30))
        let major = version.stdout.dropFirst().prefix { $0.isNumber }
        guard version.stdout.hasPrefix("v"), let number = Int(major), number >= 20 else {
            Issue.record("\(node) --version says \(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)): gpoll.js needs Node 20 or later (fetch built in)")
            return nil
        }
        return node
    }

    @Test func gpollJSPassesTheClientCases() async throws {
        guard let node = try await node() else { return }
        var options = ClientRunOptions(command: [node, listenAdapter, "{url}"])
        options.ack = true
        options.strict = true
        // Each case starts a Node process; the machine the suite runs on may be small.
        options.parallelism = 3
        let results = await ClientConformanceRunner(options: options).run(CaseSelection(include: try Self.cases.map(Glob.init)))
        #expect(results.map(\.id) == Self.cases)
        for result in results {
            #expect(result.outcome == .pass, "\(ConsoleReport.line(result, catalog: EmbeddedCatalog.catalog, verbose: true))")
        }
    }

    /// A poll whose deadline passed while a tab slept is polled again at once on
    /// `visibilitychange` and `online`, without a backoff; the script asserts it.
    @Test func gpollJSWakesFromASleepingTab() async throws {
        guard let node = try await node() else { return }
        let run = try await Program.run(node, [wakeScript, gpollJS], timeout: .seconds(60), standardError: .combinedWithOutput)
        #expect(run.status == .exited(0), "\(run.stdout)")
        #expect(run.stdout.hasSuffix("ok\n"), "\(run.stdout)")
    }
}
