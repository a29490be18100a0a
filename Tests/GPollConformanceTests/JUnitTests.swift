import Foundation
@testable import GPollConformance
import GPollSpec
import GPollWire
import JUnitXML
import Testing

enum SchemaFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("JUnitXMLTests/Schemas")
    static let all = ["ant-junit.xsd", "jenkins-junit-10.xsd"].map { directory.appendingPathComponent($0).path }

    static func validate(_ xml: [UInt8]) throws -> [String] {
        try all.flatMap { try JUnitSchemaValidator.validate(xml: xml, schemaPath: $0) }
    }

    static func validate(jenkins xml: [UInt8]) throws -> [String] {
        try JUnitSchemaValidator.validate(xml: xml, schemaPath: directory.appendingPathComponent("jenkins-junit-10.xsd").path)
    }

    static func validate(ant xml: [UInt8]) throws -> [String] {
        try JUnitSchemaValidator.validate(xml: xml, schemaPath: directory.appendingPathComponent("ant-junit.xsd").path)
    }
}

@Suite struct JUnitOutputTests {
    static let hostile = "GET /poll?client-id=\u{0}\u{1}\u{B}]]><&>\"' \u{FFFE}\u{FFFF} 🧪 \u{7F}\r\n"

    static func results() -> [CaseResult] {
        let entries = [Transcript.Entry(milliseconds: 3, connection: "c1", direction: ">", text: hostile),
                       Transcript.Entry(milliseconds: 9, connection: "c1", direction: "<", text: "HTTP/1.1 200 OK\n" + hostile)]
        let finding = Finding(requirement: "HS-1", level: .must, expected: "200 <json>", actual: hostile)
        return [
            CaseResult(id: "handshake/001", title: "Handshake & <friends>", section: 5, level: .must, requirements: ["HS-1"], outcome: .pass, seconds: 0.01, transcript: entries),
            CaseResult(id: "handshake/002", title: "Fails", section: 5, level: .must, requirements: ["HS-1"], outcome: .fail, finding: finding, seconds: 0.2, transcript: entries),
            CaseResult(id: "handshake/006", title: "Warns", section: 5, level: .should, requirements: ["HS-3"],
                       outcome: .warn, finding: Finding(requirement: "HS-3", level: .should, expected: "json", actual: hostile), transcript: entries),
            CaseResult(id: "poll/001", title: "Errors", section: 7, level: .must, requirements: ["PO-1"], outcome: .error, reason: "publish URL answered 500 " + hostile, transcript: entries),
            CaseResult(id: "timeout/001", title: "Skips", section: 12, level: .should, requirements: ["TO-1"], outcome: .skip, reason: "needs --poll-timeout"),
            CaseResult(id: "x/001", title: "Unknown section", section: 99, level: .must, requirements: [], outcome: .pass),
            flaky(id: "poll/002", outcome: .fail, pass: 3, bad: 2),
            flaky(id: "poll/003", outcome: .warn, pass: 1, bad: 4),
        ]
    }

    /// A FLAKY result as --repeat makes it: `pass` passing runs, `bad` runs with `outcome`.
    static func flaky(id: String, outcome: Outcome, pass: Int, bad: Int) -> CaseResult {
        let entries = [Transcript.Entry(milliseconds: 1, connection: "c1", direction: ">", text: hostile)]
        let level: Catalog.Level = outcome == .warn ? .should : .must
        let failing = CaseResult(id: id, title: "Flaky " + hostile, section: 7, level: level, requirements: ["PO-1"], outcome: outcome,
                                 finding: Finding(requirement: "PO-1", level: level, expected: "m", actual: hostile), transcript: entries)
        var passing = failing
        passing.outcome = .pass
        passing.finding = nil
        return CaseResult.merged(Array(repeating: passing, count: pass) + Array(repeating: failing, count: bad))
    }

    static let info = RunInfo(spec: "gpoll/1", specVersion: "1.0.0", target: "http://127.0.0.1:1/poll?" + hostile,
                              options: ["--strict", hostile], strict: false, started: Date(), seconds: 1.5)

    /// Valid for the Jenkins schema; for the Ant schema, valid but for the per-case
    /// `<system-out>` of WARN and FLAKY cases, which that schema has no place for.
    @Test(arguments: [false, true])
    func syntheticReportValidatesAgainstBothSchemas(verbose: Bool) throws {
        var report = JUnitMapping.report(results: Self.results(), catalog: EmbeddedCatalog.catalog, run: Self.info, verbose: verbose, hostname: "h\u{0}st")
        let xml = try JUnitXMLWriter.render(report)
        #expect(try SchemaFiles.validate(jenkins: xml) == [])
        let antErrors = try SchemaFiles.validate(ant: xml)
        #expect(!antErrors.isEmpty && antErrors.allSatisfy { $0.contains("system-out") }, "\(antErrors)")
        for index in report.suites.indices {
            for caseIndex in report.suites[index].cases.indices { report.suites[index].cases[caseIndex].systemOut = "" }
        }
        #expect(try SchemaFiles.validate(JUnitXMLWriter.render(report)) == [], "without per-case output, both schemas")
        let text = String(decoding: xml, as: UTF8.self)
        #expect(text.contains("type=\"MUST\""))
        #expect(text.contains("<skipped message=\"needs --poll-timeout\""))
        #expect(text.contains("WARN handshake/006"))
        #expect(text.contains("name=\"handshake.warned\" value=\"handshake/006\""))
        #expect(text.contains("name=\"poll.flaky\" value=\"poll/002 poll/003\""))
        #expect(text.contains("classname=\"gpoll.handshake\""))
    }

    /// `--junit-ant`: the same outcomes, valid for both schemas; WARN and FLAKY still
    /// named in the suite's output and properties.
    @Test func antFlavourValidatesAgainstBothSchemas() throws {
        let report = JUnitMapping.report(results: Self.results(), catalog: EmbeddedCatalog.catalog, run: Self.info, verbose: false,
                                         perCaseOutput: false, hostname: "host")
        let xml = try JUnitXMLWriter.render(report)
        #expect(try SchemaFiles.validate(xml) == [])
        #expect(report.suites.flatMap(\.cases).allSatisfy { $0.systemOut.isEmpty })
        let text = String(decoding: xml, as: UTF8.self)
        #expect(text.contains("WARN handshake/006"))
        #expect(text.contains("name=\"handshake.warned\" value=\"handshake/006\""))
        #expect(text.contains("type=\"FLAKY\""))
    }

    @Test func warnIsAPassingTestCaseThatSaysWarn() throws {
        let report = JUnitMapping.report(results: Self.results(), catalog: EmbeddedCatalog.catalog, run: Self.info, verbose: false)
        let handshake = report.suites.first { $0.cases.contains { $0.name.hasPrefix("handshake/006") } }!
        #expect(handshake.failures == 1)
        let warned = try #require(handshake.cases.first { $0.name.hasPrefix("handshake/006") })
        #expect(warned.outcome == .passed)
        #expect(warned.systemOut.hasPrefix("WARN [HS-3] expected json; got"), "\(warned.systemOut)")
        #expect(handshake.cases.first { $0.name.hasPrefix("handshake/001") }!.systemOut == "")
    }

    @Test func flakyIsAFailureWhenARunFailedAndPassingWhenRunsOnlyWarned() throws {
        let report = JUnitMapping.report(results: Self.results(), catalog: EmbeddedCatalog.catalog, run: Self.info, verbose: false)
        let cases = report.suites.flatMap(\.cases)
        let failing = try #require(cases.first { $0.name.hasPrefix("poll/002") })
        guard case .failure(let message, let type, _) = failing.outcome else {
            Issue.record("poll/002 is \(failing.outcome)")
            return
        }
        #expect(type == "FLAKY")
        #expect(message.hasPrefix("FLAKY (3 pass, 2 fail)"))
        #expect(failing.systemOut.hasPrefix("FLAKY: 3 pass, 2 fail in 5 runs"))
        let warning = try #require(cases.first { $0.name.hasPrefix("poll/003") })
        #expect(warning.outcome == .passed)
        #expect(warning.systemOut.hasPrefix("FLAKY: 1 pass, 4 warn in 5 runs"))
    }

    /// xunitparser merges the properties of every suite and asserts that no name
    /// repeats: run-wide properties are written once.
    @Test func noPropertyNameRepeats() {
        let report = JUnitMapping.report(results: Self.results(), catalog: EmbeddedCatalog.catalog, run: Self.info, verbose: false)
        let names = report.suites.flatMap(\.properties).map(\.name)
        #expect(names.count == Set(names).count, "\(names)")
        #expect(report.suites.first!.properties.contains { $0.name == "target" })
    }

    @Test func transcriptEscapesNonPrintableBytes() {
        #expect(Transcript.escape([0x41, 0x00, 0xFF, 0x5C, 0x0A], limit: 10) == "A\\x00\\xFF\\\\\\x0A")
        #expect(Transcript.bodyText(Array(repeating: 0x61, count: 600)).hasSuffix("(600 bytes in all)"))
    }
}
