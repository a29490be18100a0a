import Foundation
import GPollConformance
import JUnitXML
import Testing

enum SchemaFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("JUnitXMLTests/Schemas")
    static let all = ["ant-junit.xsd", "jenkins-junit-10.xsd"].map { directory.appendingPathComponent($0).path }

    static func validate(_ xml: [UInt8]) throws -> [String] {
        try all.flatMap { try JUnitSchemaValidator.validate(xml: xml, schemaPath: $0) }
    }
}

@Suite struct JUnitOutputTests {
    static let hostile = "GET /poll?client-id=\u{0}\u{1}\u{B}]]><&>\"' \u{FFFE}\u{FFFF} 🧪 \u{7F}\r\n"

    static func results() -> [CaseResult] {
        let entries = [Transcript.Entry(milliseconds: 3, connection: "c1", direction: ">", text: hostile),
                       Transcript.Entry(milliseconds: 9, connection: "c1", direction: "<", text: "HTTP/1.1 200 OK\n" + hostile)]
        let finding = Finding(requirement: "HS-1", level: .must, expected: "200 <json>", actual: hostile)
        return [
            CaseResult(id: "handshake/001", title: "Handshake & <friends>", section: "5", level: .must, requirements: ["HS-1"], outcome: .pass, seconds: 0.01, transcript: entries),
            CaseResult(id: "handshake/002", title: "Fails", section: "5", level: .must, requirements: ["HS-1"], outcome: .fail, finding: finding, seconds: 0.2, transcript: entries),
            CaseResult(id: "handshake/006", title: "Warns", section: "5", level: .should, requirements: ["HS-3"],
                       outcome: .warn, finding: Finding(requirement: "HS-3", level: .should, expected: "json", actual: hostile), transcript: entries),
            CaseResult(id: "poll/001", title: "Errors", section: "7", level: .must, requirements: ["PO-1"], outcome: .error, reason: "publish URL answered 500 " + hostile, transcript: entries),
            CaseResult(id: "timeout/001", title: "Skips", section: "12", level: .should, requirements: ["TO-1"], outcome: .skip, reason: "needs --poll-timeout"),
            CaseResult(id: "x/001", title: "Unknown section", section: "99", level: .must, requirements: [], outcome: .pass),
        ]
    }

    static let info = RunInfo(spec: "gpoll/1", specVersion: "1.0.0", target: "http://127.0.0.1:1/poll?" + hostile,
                              options: ["--strict", hostile], strict: false, started: Date(), seconds: 1.5)

    @Test(arguments: [false, true])
    func syntheticReportValidatesAgainstBothSchemas(verbose: Bool) throws {
        let report = JUnitMapping.report(results: Self.results(), catalog: .embedded, run: Self.info, verbose: verbose, hostname: "h\u{0}st")
        let xml = try JUnitXMLWriter.render(report)
        #expect(try SchemaFiles.validate(xml) == [])
        let text = String(decoding: xml, as: UTF8.self)
        #expect(text.contains("type=\"MUST\""))
        #expect(text.contains("<skipped message=\"needs --poll-timeout\""))
        #expect(text.contains("WARN handshake/006"))
        #expect(text.contains("name=\"warned\" value=\"handshake/006\""))
        #expect(text.contains("classname=\"gpoll.handshake\""))
    }

    @Test func warnIsAPassingTestCase() {
        let report = JUnitMapping.report(results: Self.results(), catalog: .embedded, run: Self.info, verbose: false)
        let handshake = report.suites.first { $0.cases.contains { $0.name.hasPrefix("handshake/006") } }!
        #expect(handshake.failures == 1)
        #expect(handshake.cases.first { $0.name.hasPrefix("handshake/006") }!.outcome == .passed)
    }

    @Test func transcriptEscapesNonPrintableBytes() {
        #expect(Transcript.escape([0x41, 0x00, 0xFF, 0x5C, 0x0A], limit: 10) == "A\\x00\\xFF\\\\\\x0A")
        #expect(Transcript.bodyText(Array(repeating: 0x61, count: 600)).hasSuffix("(600 bytes in all)"))
    }
}
