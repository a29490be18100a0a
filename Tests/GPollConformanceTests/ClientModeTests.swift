import GPollTestSupport
import Foundation
import GPollConformance
import GPollSpec
import Testing

private let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
private let repositoryRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
/// The reference client (Spec section 19) with its named defects.
private let referenceClient = testsDirectory.appendingPathComponent("Clients/gpoll_client.py").path

/// Client cases run a Python process each and judge timing; on a shared 2-core
/// machine at most this many run at once, whatever the test runner does.
private let gate = ClientCaseGate(slots: 5)

private actor ClientCaseGate {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(slots: Int) { free = slots }

    func acquire() async {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

/// Runs one client case against the reference client, with `defect` when given.
private func runClientCase(_ id: String, defect: String? = nil) async throws -> CaseResult {
    var command = ["env", "GPOLL_SHARED_ID_FILE=\(NSTemporaryDirectory())gpoll-shared-\(UUID().uuidString)", "python3", referenceClient, "--ack"]
    if let defect { command += ["--defect", defect] }
    command.append("{url}")
    var options = ClientRunOptions(command: command)
    options.ack = true
    options.graceSeconds = 2
    // The cases that mostly wait on a held poll need no slot: they would only
    // stretch the suite's wall time.
    let waits = ["client/009", "client/015", "client/016", "client/023"].contains(id)
    if !waits { await gate.acquire() }
    let results = await ClientConformanceRunner(options: options).run(CaseSelection(include: [try Glob(id)]))
    if !waits { await gate.release() }
    return try #require(results.first)
}

private func show(_ result: CaseResult) -> String {
    ConsoleReport.line(result, catalog: EmbeddedCatalog.catalog, verbose: true)
}

@Suite struct ClientModeRegistryTests {
    @Test func clientRegistryIsExactlyTheCatalogsClientCases() throws {
        let markdown = try String(contentsOf: repositoryRoot.appendingPathComponent("Spec/gpoll-1.md"), encoding: .utf8)
        let problems = CatalogValidator.validate(markdown: markdown, catalog: EmbeddedCatalog.catalog,
                                                 registry: CaseRegistry.ids, clientRegistry: ClientCaseRegistry.ids)
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func clientCatalogHoldsTheClientCasesOnly() {
        let ids = EmbeddedCatalog.catalog.activeCases(on: .client).map(\.id)
        #expect(ClientConformanceMain.listing().split(separator: "\n").map { String($0.prefix { $0 != " " }) } == ids)
        #expect(Set(ClientCaseRegistry.ids) == Set(ids))
        #expect(Set(ClientCaseRegistry.ids).count == ClientCaseRegistry.ids.count)
    }
}

@Suite struct ClientModeLineProtocolTests {
    @Test func jsonLines() {
        #expect(ClientEvent.parse(#"{"event":"registered","client-id":"0$abc"}"#) == .registered(clientID: "0$abc"))
        #expect(ClientEvent.parse(#"{"event":"message","data":"AP8NCg==","other":1}"#) == .message([0x00, 0xFF, 0x0D, 0x0A]))
        #expect(ClientEvent.parse(#"{"event":"message","data":""}"#) == .message([]))
        #expect(ClientEvent.parse(#"{"event":"registered-again","client-id":"0$x","missed":true}"#) == .registeredAgain(clientID: "0$x"))
        #expect(ClientEvent.parse(#"{"event":"backoff","seconds":1.25,"reason":"503"}"#) == .backoff(seconds: 1.25, reason: "503"))
        #expect(ClientEvent.parse(#"{"event":"closed"}"#) == .closed(reason: nil))
        #expect(ClientEvent.parse(#"{"event":"future"}"#) == .unknown(#"{"event":"future"}"#))
    }

    @Test func specPlainLines() {
        #expect(ClientEvent.parse("message 00ff0d0a") == .message([0x00, 0xFF, 0x0D, 0x0A]))
        #expect(ClientEvent.parse("message ") == .message([]))
        #expect(ClientEvent.parse("gap") == .registeredAgain(clientID: nil))
    }

    @Test func otherLinesAreNotTheProtocol() {
        for line in ["hello", "[1,2]", #"{"event":"message","data":"not base64!"}"#, "message 0g", #"{"no":"event"}"#] {
            #expect(ClientEvent.parse(line) == .notProtocol(line))
        }
    }
}

/// Every client case against a client that breaks its requirement: FAIL for a MUST,
/// WARN for a SHOULD, with the requirement the defect breaks.
@Suite struct ClientModeProofTests {
    struct Proof: Sendable, CustomTestStringConvertible {
        var caseID: String
        var defect: String
        var outcome: Outcome
        var requirement: String
        var testDescription: String { "\(caseID) against --defect \(defect)" }
    }

    static let proofs: [Proof] = [
        Proof(caseID: "client/001", defect: "post", outcome: .fail, requirement: "CL-1"),
        Proof(caseID: "client/002", defect: "raw-dollar", outcome: .warn, requirement: "CL-7"),
        Proof(caseID: "client/003", defect: "plus-encoding", outcome: .fail, requirement: "CL-6"),
        Proof(caseID: "client/004", defect: "exact-body", outcome: .fail, requirement: "CL-4"),
        Proof(caseID: "client/005", defect: "prefix-body", outcome: .fail, requirement: "CL-4"),
        Proof(caseID: "client/005", defect: "no-backoff", outcome: .fail, requirement: "CL-16"),
        Proof(caseID: "client/006", defect: "text-messages", outcome: .fail, requirement: "CL-8"),
        Proof(caseID: "client/007", defect: "slow-after-answer", outcome: .fail, requirement: "CL-11"),
        Proof(caseID: "client/008", defect: "always-repoll", outcome: .warn, requirement: "CL-12"),
        Proof(caseID: "client/009", defect: "half-close", outcome: .fail, requirement: "CL-2"),
        Proof(caseID: "client/009", defect: "two-polls", outcome: .fail, requirement: "CL-9"),
        Proof(caseID: "client/010", defect: "poll-after-404", outcome: .fail, requirement: "CL-13"),
        Proof(caseID: "client/011", defect: "no-gap", outcome: .warn, requirement: "CL-14"),
        Proof(caseID: "client/012", defect: "ignore-retry-after", outcome: .fail, requirement: "CL-17"),
        Proof(caseID: "client/013", defect: "no-backoff", outcome: .fail, requirement: "CL-16"),
        Proof(caseID: "client/013", defect: "constant-backoff", outcome: .fail, requirement: "CL-16"),
        Proof(caseID: "client/014", defect: "reregister-on-drop", outcome: .fail, requirement: "CL-20"),
        Proof(caseID: "client/014", defect: "no-backoff", outcome: .fail, requirement: "CL-20"),
        Proof(caseID: "client/015", defect: "short-timeout", outcome: .fail, requirement: "CL-15"),
        Proof(caseID: "client/016", defect: "timeout-30", outcome: .warn, requirement: "CL-21"),
        Proof(caseID: "client/017", defect: "no-dedupe", outcome: .fail, requirement: "CL-23"),
        Proof(caseID: "client/018", defect: "ack-no-reset", outcome: .fail, requirement: "CL-24"),
        Proof(caseID: "client/019", defect: "follow-redirects", outcome: .fail, requirement: "CL-18"),
        Proof(caseID: "client/019", defect: "no-backoff", outcome: .fail, requirement: "CL-18"),
        Proof(caseID: "client/020", defect: "repoll-on-4xx", outcome: .fail, requirement: "CL-19"),
        Proof(caseID: "client/020", defect: "no-backoff", outcome: .fail, requirement: "CL-19"),
        Proof(caseID: "client/021", defect: "shared-id", outcome: .fail, requirement: "CL-10"),
        Proof(caseID: "client/022", defect: "prints-id", outcome: .warn, requirement: "CL-25"),
        Proof(caseID: "client/023", defect: "timeout-30", outcome: .warn, requirement: "CL-26"),
    ]

    /// client/009 allows a client that closes a slow poll itself (its own request
    /// timeout, here 3 s) and polls again: a FIN is a half-close only when the
    /// client still reads the answer after it.
    @Test func aFullCloseIsNotAHalfClose() async throws {
        let result = try await runClientCase("client/009", defect: "short-timeout")
        #expect(result.outcome == .pass, "\(show(result))")
    }

    @Test func everyClientCaseHasAProof() {
        #expect(Set(Self.proofs.map(\.caseID)) == Set(ClientCaseRegistry.ids))
    }

    @Test(arguments: proofs)
    func wrongClientIsCaught(_ proof: Proof) async throws {
        // A client without backoff is told from a correct one by its think time (tens of
        // ms): those proofs take their turn with the suites that load the machine (two
        // busy loops, thousands of connections), which can stretch a Python loop that far.
        let result = proof.requirement == "CL-16" || proof.defect.contains("backoff")
            ? try await LoadGate.exclusive { try await runClientCase(proof.caseID, defect: proof.defect) }
            : try await runClientCase(proof.caseID, defect: proof.defect)
        #expect(result.outcome == proof.outcome, "\(show(result))")
        #expect(result.finding?.requirement == proof.requirement, "\(show(result))")
    }
}

/// The reference client passes every client case.
@Suite struct ClientModeReferenceTests {
    @Test(arguments: ClientCaseRegistry.ids)
    func referenceClientPasses(_ id: String) async throws {
        let result = try await runClientCase(id)
        #expect(result.outcome == .pass, "\(show(result))")
    }
}

@Suite struct ClientModeMainTests {
    private final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func add(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return stored.joined(separator: "\n") }
    }

    private func main(_ options: ClientRunOptions) async -> (code: Int32, output: String, errors: String) {
        let output = Lines(), errors = Lines()
        let code = await ClientConformanceMain.run(options, output: { output.add($0) }, errorOutput: { errors.add($0) })
        return (code, output.text, errors.text)
    }

    @Test func usageErrorsExitTwo() async {
        var noURL = ClientRunOptions(command: ["python3", referenceClient])
        noURL.cases = ["client/001"]
        let missing = await main(noURL)
        #expect(missing.code == 2)
        #expect(missing.errors.contains("{url}"))
        let empty = await main(ClientRunOptions(command: []))
        #expect(empty.code == 2)
        var unmatched = ClientRunOptions(command: ["python3", referenceClient, "{url}"])
        unmatched.cases = ["poll/*"]
        let none = await main(unmatched)
        #expect(none.code == 2)
        #expect(none.errors.contains("matches no client case"))
    }

    @Test func aProgramThatCannotStartIsAnError() async {
        var options = ClientRunOptions(command: ["/nonexistent/gpoll-client", "{url}"])
        options.cases = ["client/001"]
        let run = await main(options)
        #expect(run.code == 1)
        #expect(run.output.contains("ERROR client/001"), "\(run.output)")
    }

    /// A client under test runs until SIGTERM: one that exits at once fails the case,
    /// and the finding says that it exited.
    @Test func aClientThatExitsEarlyFailsAndIsNamed() async throws {
        var options = ClientRunOptions(command: ["sh", "-c", "exit 3", "{url}"])
        options.cases = ["client/001"]
        let results = await ClientConformanceRunner(options: options).run(CaseSelection(include: [try Glob("client/001")]))
        let result = try #require(results.first)
        #expect(result.outcome == .fail, "\(show(result))")
        #expect(result.finding?.actual.contains("ended on its own") == true, "\(show(result))")
        #expect(result.finding?.actual.contains("exited(3)") == true, "\(show(result))")
    }

    @Test func ackCasesAreSkippedWithoutAck() async {
        var options = ClientRunOptions(command: ["python3", referenceClient, "{url}"])
        options.cases = ["client/017", "client/018"]
        let run = await main(options)
        #expect(run.code == 0)
        #expect(run.output.contains("SKIP  client/017"), "\(run.output)")
        #expect(run.output.contains("needs ack"), "\(run.output)")
    }

    @Test func failingClientExitsOneAndReportsAreWritten() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("client-mode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = ClientRunOptions(command: ["python3", referenceClient, "--defect", "post", "{url}"])
        options.cases = ["client/001", "client/002"]
        options.junit = directory.appendingPathComponent("client.xml").path
        options.json = directory.appendingPathComponent("client.json").path
        let run = await main(options)
        #expect(run.code == 1, "\(run.output)")
        #expect(run.output.contains("FAIL  client/001"), "\(run.output)")
        let junit = try String(contentsOfFile: options.junit!, encoding: .utf8)
        #expect(junit.contains("client/001"))
        #expect(junit.contains("<failure"))
        let report = try JSONDecoder.withISODates.decode(JSONReport.self, from: Data(contentsOf: URL(fileURLWithPath: options.json!)))
        #expect(report.results.map(\.id) == ["client/001", "client/002"])
        #expect(report.results.first?.outcome == .fail)
        #expect(report.results.first?.transcript.isEmpty == false)
    }
}

private extension JSONDecoder {
    static var withISODates: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
