import Foundation
import JUnitXML
import Testing

/// Rendered reports validate against both the Ant and the Jenkins schema.
@Suite struct WriterValidationTests {
    @Test func everyOutcomeKindValidates() throws {
        let xml = try expectValid(JUnitReport(suites: [sampleSuite()]))
        let text = String(decoding: xml, as: UTF8.self)
        #expect(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite "))
        #expect(text.contains("<failure message=\"expected 400, got 200\" type=\"StatusMismatch\">"))
        #expect(text.contains("<error message=\"connection reset\" type=\"TransportError\">"))
        #expect(text.contains("<skipped message=\"server does not advertise gzip\"/>"))
    }

    @Test func emptyReportValidates() throws {
        let xml = try expectValid(JUnitReport())
        #expect(parse(xml) == Element(name: "testsuites", attributes: [:], children: [], text: ""))
    }

    @Test func emptySuiteValidates() throws {
        let suite = JUnitTestSuite(name: "empty", package: "gpoll", timestamp: Date(timeIntervalSince1970: 0))
        let xml = try expectValid(JUnitReport(suites: [suite]))
        let s = try #require(parse(xml)?.first("testsuite"))
        #expect(s.attributes["tests"] == "0")
        #expect(s.attributes["time"] == "0.000")
        #expect(s.children.map(\.name) == ["properties", "system-out", "system-err"])
    }

    @Test func manySuitesValidateWithSequentialIDs() throws {
        let suites = (0..<60).map { sampleSuite(name: "section\($0)") }
        let xml = try expectValid(JUnitReport(suites: suites))
        let parsed = try #require(parse(xml))
        #expect(parsed.all("testsuite").map { $0.attributes["id"] } == (0..<60).map { String($0) })
        #expect(parsed.all("testsuite").map { $0.attributes["name"] } == (0..<60).map { "section\($0)" })
    }

    @Test func childOrderIsPropertiesCasesSystemOutSystemErr() throws {
        let xml = try expectValid(JUnitReport(suites: [sampleSuite()]))
        let s = try #require(parse(xml)?.first("testsuite"))
        #expect(s.children.map(\.name) == ["properties"] + Array(repeating: "testcase", count: 4) + ["system-out", "system-err"])
    }

    @Test(arguments: Hostile.all)
    func hostileTextEverywhereValidates(_ hostile: String) throws {
        try expectValid(JUnitReport(suites: [hostileSuite(hostile)]))
    }

    @Test func allHostileTextAtOnceAndVeryLongStringsValidate() throws {
        try expectValid(JUnitReport(suites: [hostileSuite(Hostile.mixed), hostileSuite(Hostile.long)]))
    }

    @Test func blankRequiredTokensGetFallbacks() throws {
        let suite = JUnitTestSuite(name: " \t\n", package: "", hostname: "",
                                   properties: [JUnitProperty(name: "", value: "")],
                                   cases: [JUnitTestCase(name: "", classname: "", time: 0)])
        let xml = try expectValid(JUnitReport(suites: [suite]))
        let s = try #require(parse(xml)?.first("testsuite"))
        #expect(s.attributes["name"] == "(unnamed)")
        #expect(s.attributes["hostname"] == "localhost")
        #expect(s.first("properties")?.first("property")?.attributes["name"] == "(unnamed)")
    }

    @Test func hostileTimesAndDatesValidate() throws {
        let times: [Double] = [-1, .nan, .infinity, -.infinity, 1e300, 1e-300, 0.0005, 12_345_678.9]
        let cases = times.map { JUnitTestCase(name: "t", classname: "gpoll.time", time: $0) }
        let dates = [Date.distantPast, .distantFuture, Date(timeIntervalSince1970: -1e15), Date(timeIntervalSince1970: 1e15),
                     Date(timeIntervalSince1970: .nan), Date(timeIntervalSince1970: -0.5)]
        let suites = dates.map { JUnitTestSuite(name: "dates", package: "gpoll", timestamp: $0, cases: cases) }
            + [JUnitTestSuite(name: "explicit", package: "gpoll", time: -.infinity),
               JUnitTestSuite(name: "explicit", package: "gpoll", time: .nan)]
        try expectValid(JUnitReport(suites: suites))
    }

    @Test func writeToFileMatchesRender() throws {
        let report = JUnitReport(suites: [sampleSuite()])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("junit-\(UUID()).xml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JUnitXMLWriter.write(report, toFile: path)
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written == (try JUnitXMLWriter.render(report)))
    }

    @Test func writeToUnwritablePathThrows() {
        #expect(throws: JUnitXMLError.self) {
            try JUnitXMLWriter.write(JUnitReport(), toFile: "/nonexistent-dir-\(UUID())/report.xml")
        }
    }

    @Test func concurrentRenderAndValidate() async throws {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<32 {
                group.addTask {
                    let xml = try JUnitXMLWriter.render(JUnitReport(suites: [hostileSuite("\(i)" + Hostile.mixed)]))
                    return try Schemas.all.reduce(0) { $0 + (try JUnitSchemaValidator.validate(xml: xml, schemaPath: $1)).count }
                }
            }
            for try await errorCount in group { #expect(errorCount == 0) }
        }
    }
}

/// A suite with `hostile` in every string field.
func hostileSuite(_ hostile: String) -> JUnitTestSuite {
    JUnitTestSuite(
        name: hostile, package: hostile, timestamp: Date(timeIntervalSince1970: 1_234_567_890), hostname: hostile,
        properties: [JUnitProperty(name: hostile, value: hostile), JUnitProperty(name: "target", value: Hostile.transcript)],
        cases: [
            JUnitTestCase(name: hostile, classname: hostile, time: 0.001),
            JUnitTestCase(name: hostile, classname: hostile, time: 0.002, outcome: .failure(message: hostile, type: hostile, details: hostile + Hostile.transcript)),
            JUnitTestCase(name: hostile, classname: hostile, time: 0.003, outcome: .error(message: hostile, type: hostile, details: hostile)),
            JUnitTestCase(name: hostile, classname: hostile, time: 0.004, outcome: .skipped(message: hostile)),
        ],
        systemOut: hostile + Hostile.transcript, systemErr: hostile)
}
