import Foundation
import JUnitXML
import Testing

/// The rendered XML parses back and keeps the (sanitised) text and counts.
@Suite struct RoundTripTests {
    @Test(arguments: Hostile.all + [Hostile.mixed, Hostile.transcript, Hostile.long])
    func textSurvivesSanitised(_ hostile: String) throws {
        let xml = try JUnitXMLWriter.render(JUnitReport(suites: [hostileSuite(hostile)]))
        let root = try #require(parse(xml))
        let s = try #require(root.first("testsuite"))
        let clean = XMLText.sanitize(hostile)
        let transcript = XMLText.sanitize(Hostile.transcript)

        #expect(s.attributes["package"] == clean)
        if !clean.allSatisfy(\.isWhitespace) {
            #expect(s.attributes["name"] == clean)
            #expect(s.attributes["hostname"] == clean)
        }
        let props = try #require(s.first("properties")).all("property")
        #expect(props.last?.attributes == ["name": "target", "value": transcript])
        #expect(props.first?.attributes["value"] == clean)

        let cases = s.all("testcase")
        #expect(cases.count == 4)
        for c in cases {
            #expect(c.attributes["name"] == clean)
            #expect(c.attributes["classname"] == clean)
        }
        let failure = try #require(cases[1].first("failure"))
        #expect(failure.attributes == ["message": clean, "type": clean])
        #expect(failure.text == clean + transcript)
        let error = try #require(cases[2].first("error"))
        #expect(error.attributes == ["message": clean, "type": clean])
        #expect(error.text == clean)
        #expect(cases[3].first("skipped")?.attributes == ["message": clean])
        #expect(s.first("system-out")?.text == clean + transcript)
        #expect(s.first("system-err")?.text == clean)
    }

    @Test func countAttributesAreRight() throws {
        func c(_ outcome: JUnitTestCase.Outcome, _ time: Double) -> JUnitTestCase {
            JUnitTestCase(name: "x", classname: "gpoll.counts", time: time, outcome: outcome)
        }
        let f = JUnitTestCase.Outcome.failure(message: "m", type: "t", details: "")
        let e = JUnitTestCase.Outcome.error(message: "m", type: "t", details: "")
        let k = JUnitTestCase.Outcome.skipped(message: "")
        let suite = JUnitTestSuite(name: "counts", package: "gpoll",
                                   cases: [c(.passed, 0.1), c(f, 0.2), c(f, 0.3), c(f, -5), c(e, .nan),
                                           c(k, 1), c(k, 2), c(k, 3), c(k, 4), c(.passed, 0.0004)])
        #expect((suite.tests, suite.failures, suite.errors, suite.skipped) == (10, 3, 1, 4))
        #expect(abs(suite.time - 10.6004) < 1e-9)
        let xml = try expectValid(JUnitReport(suites: [suite]))
        let a = try #require(parse(xml)?.first("testsuite")).attributes
        #expect(a["tests"] == "10")
        #expect(a["failures"] == "3")
        #expect(a["errors"] == "1")
        #expect(a["skipped"] == "4")
        #expect(a["time"] == "10.600")
        #expect(a["timestamp"]?.count == 19)
    }

    @Test func explicitSuiteTimeOverridesSum() throws {
        var suite = sampleSuite()
        #expect(abs(suite.time - 1.762) < 1e-9)
        suite.time = 42.125
        #expect(suite.explicitTime == 42.125)
        let xml = try expectValid(JUnitReport(suites: [suite]))
        #expect(parse(xml)?.first("testsuite")?.attributes["time"] == "42.125")
        let cases = parse(xml)?.first("testsuite")?.all("testcase").map { $0.attributes["time"] }
        #expect(cases == ["0.012", "0.250", "1.500", "0.000"])
    }

    @Test func suiteAttributes() throws {
        let xml = try JUnitXMLWriter.render(JUnitReport(suites: [sampleSuite()]))
        let a = try #require(parse(xml)?.first("testsuite")).attributes
        #expect(a == ["name": "handshake", "package": "gpoll", "id": "0", "timestamp": "2023-11-14T22:13:20",
                      "hostname": "ci-runner-7", "tests": "4", "failures": "1", "errors": "1", "skipped": "1",
                      "time": "1.762"])
    }
}
