import Foundation
@testable import GPollConformance
import GPollSpec
import GPollTestSupport
import JUnitXML
import Testing

/// The JUnit report as two common Python parsers read it (junitparser and
/// xunitparser, from PyPI; CI installs them): the counts they find, and whether
/// they can see that a case WARNed or was FLAKY.
@Suite struct JUnitParserTests {
    /// Prints one JSON object per parser: totals and each case's outcome and output.
    static let script = #"""
        import json, sys
        path = sys.argv[1]
        out = {}

        import junitparser
        xml = junitparser.JUnitXml.fromfile(path)
        suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
        cases = {}
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for suite in suites:
            for key in totals:
                totals[key] += int(getattr(suite, key) or 0)
            for case in suite:
                kinds = [type(r).__name__ for r in case.result]
                cases[case.name] = {"result": kinds, "out": case.system_out or ""}
        out["junitparser"] = {"totals": totals, "cases": cases}

        import xunitparser
        with open(path) as f:
            ts, tr = xunitparser.parse(f)
        cases = {}
        for case in ts:
            cases[case.methodname] = {"result": case.result, "out": case.stdout or ""}
        out["xunitparser"] = {
            "totals": {"tests": tr.testsRun, "failures": len(tr.failures), "errors": len(tr.errors), "skipped": len(tr.skipped)},
            "cases": cases,
            "properties": ts.properties,
        }
        print(json.dumps(out))
        """#

    struct Parsed: Decodable {
        struct Totals: Decodable, Equatable { var tests, failures, errors, skipped: Int }
        struct JCase: Decodable { var result: [String]; var out: String }
        struct XCase: Decodable { var result: String; var out: String }
        struct J: Decodable { var totals: Totals; var cases: [String: JCase] }
        struct X: Decodable { var totals: Totals; var cases: [String: XCase]; var properties: [String: String] }
        var junitparser: J
        var xunitparser: X
    }

    @Test func junitparserAndXunitparserReadTheReport() async throws {
        guard let python = Program.find("python3") else {
            Issue.record("python3 is not installed: install it, then `pip install junitparser xunitparser` (.ci/run does)")
            return
        }
        let check = try await Program.run(python, ["-c", "import junitparser, xunitparser"], timeout: .seconds(60))
        guard check.status == .exited(0) else {
            Issue.record("the Python packages junitparser and xunitparser are missing: `pip install junitparser xunitparser` (.ci/run does): \(check.stderr)")
            return
        }
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let results = JUnitOutputTests.results()
        let report = JUnitMapping.report(results: results, catalog: EmbeddedCatalog.catalog, run: JUnitOutputTests.info, verbose: false)
        try JUnitXMLWriter.write(report, toFile: scratch.file("report.xml"))
        try Data(Self.script.utf8).write(to: URL(fileURLWithPath: scratch.file("read.py")))
        let run = try await Program.run(python, [scratch.file("read.py"), scratch.file("report.xml")], timeout: .seconds(60))
        #expect(run.status == .exited(0), "the parsers failed on the report: \(run.stderr)")
        guard run.status == .exited(0) else { return }
        let parsed = try JSONDecoder().decode(Parsed.self, from: Data(run.stdout.utf8))

        // What the results say: FAIL and the FLAKY case with a failed run are
        // failures, ERROR an error, SKIP skipped; WARN and the warn-only FLAKY pass.
        let expected = Parsed.Totals(tests: results.count,
                                     failures: results.filter { $0.outcome == .fail || ($0.outcome == .flaky && $0.failsRun) }.count,
                                     errors: results.filter { $0.outcome == .error }.count,
                                     skipped: results.filter { $0.outcome == .skip }.count)
        #expect(expected.failures == 2 && expected.errors == 1 && expected.skipped == 1)
        #expect(parsed.junitparser.totals == expected)
        #expect(parsed.xunitparser.totals == expected)
        #expect(parsed.xunitparser.properties["spec"] == JUnitOutputTests.info.spec, "run-wide properties read once")

        // Case names hold hostile text the parsers may normalise: find cases by id.
        func junit(_ id: String) -> Parsed.JCase? { parsed.junitparser.cases.first { $0.key.hasPrefix(id + " ") }?.value }
        func xunit(_ id: String) -> Parsed.XCase? { parsed.xunitparser.cases.first { $0.key.hasPrefix(id + " ") }?.value }
        // Visible in the case itself: its own output says WARN or FLAKY.
        for (id, prefix) in [("handshake/006", "WARN"), ("poll/002", "FLAKY: 3 pass, 2 fail"), ("poll/003", "FLAKY: 1 pass, 4 warn")] {
            let j = try #require(junit(id), "junitparser lost \(id)")
            #expect(j.out.hasPrefix(prefix), "junitparser, \(id): \(j.out.prefix(80))")
            let x = try #require(xunit(id), "xunitparser lost \(id)")
            #expect(x.out.hasPrefix(prefix), "xunitparser, \(id): \(x.out.prefix(80))")
        }
        #expect(junit("poll/002")?.result == ["Failure"])
        #expect(xunit("poll/002")?.result == "failure")
        #expect(junit("poll/003")?.result == [])
        #expect(xunit("poll/003")?.result == "success")
    }
}
