import Foundation
import JUnitXML
import Testing

/// A test case's own `<system-out>` (gpoll-conform's WARN and FLAKY cases).
@Suite struct CaseOutputTests {
    static func suite(_ outcome: JUnitTestCase.Outcome) -> JUnitTestSuite {
        JUnitTestSuite(name: "s", package: "gpoll", timestamp: Date(timeIntervalSince1970: 0), cases: [
            JUnitTestCase(name: "with output", classname: "gpoll.x", outcome: outcome, systemOut: "WARN " + Hostile.mixed),
            JUnitTestCase(name: "without", classname: "gpoll.x"),
        ])
    }

    @Test(arguments: [JUnitTestCase.Outcome.passed, .failure(message: "m", type: "FLAKY", details: "d")])
    func writtenAfterTheOutcomeAndValidForJenkins(outcome: JUnitTestCase.Outcome) throws {
        let xml = try JUnitXMLWriter.render(JUnitReport(suites: [Self.suite(outcome)]))
        #expect(try errors(String(decoding: xml, as: UTF8.self), Schemas.jenkins) == [])
        let cases = try #require(parse(xml)?.first("testsuite")).children.filter { $0.name == "testcase" }
        let names = cases.map { $0.children.map(\.name) }
        if case .passed = outcome {
            #expect(names == [["system-out"], []])
        } else {
            #expect(names == [["failure", "system-out"], []], "after <failure>: xunitparser drops output read before it")
        }
        #expect(cases[0].first("system-out")?.text.hasPrefix("WARN ") == true)
    }

    /// The Ant schema has no element inside a `<testcase>` but its outcome: the only
    /// errors are about the case output, and a case without it stays valid.
    @Test func antRejectsOnlyTheCaseOutput() throws {
        let xml = String(decoding: try JUnitXMLWriter.render(JUnitReport(suites: [Self.suite(.passed)])), as: UTF8.self)
        let antErrors = try errors(xml, Schemas.ant)
        #expect(!antErrors.isEmpty && antErrors.allSatisfy { $0.contains("system-out") }, "\(antErrors)")
        var plain = Self.suite(.passed)
        plain.cases[0].systemOut = ""
        try expectValid(JUnitReport(suites: [plain]))
    }
}
