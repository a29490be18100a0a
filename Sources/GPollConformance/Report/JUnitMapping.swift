import Foundation
import JUnitXML

/// Turns results into JUnit XML that CI servers accept: one `<testsuite>` per Spec
/// section, one `<testcase>` per case named "<id> <title>" with classname
/// `gpoll.<slug>`.
///
/// - FAIL: `<failure type="MUST">` (`type="SHOULD"` for a SHOULD under --strict).
/// - ERROR: `<error type="ERROR">`. SKIP: `<skipped message="reason">`.
/// - WARN: a passing `<testcase>` (CI must not go red on a SHOULD), made visible by a
///   `WARN ...` line in the suite's `<system-out>` and the suite property `warned`
///   listing the case ids.
/// Transcripts of FAIL, WARN and ERROR cases (all cases with --verbose) go to the
/// suite's `<system-out>`; the failure's own text carries the finding and transcript too.
public enum JUnitMapping {
    public static func report(results: [CaseResult], catalog: CatalogView, run: RunInfo, verbose: Bool,
                              hostname: String = ProcessInfo.processInfo.hostName) -> JUnitReport {
        let commonProperties = [
            JUnitProperty(name: "target", value: run.target),
            JUnitProperty(name: "options", value: run.options.joined(separator: " ")),
            JUnitProperty(name: "gpoll-conform.version", value: run.toolVersion),
            JUnitProperty(name: "spec", value: run.spec),
            JUnitProperty(name: "spec.version", value: run.specVersion),
            JUnitProperty(name: "strict", value: run.strict ? "true" : "false"),
        ]
        var suites: [JUnitTestSuite] = []
        // Sections in catalog order; results whose section is unknown still get a suite.
        var sectionOrder = catalog.sections.map(\.number)
        for result in results where !sectionOrder.contains(result.section) { sectionOrder.append(result.section) }

        for number in sectionOrder {
            let members = results.filter { $0.section == number }
            guard !members.isEmpty else { continue }
            let section = catalog.section(number)
            let slug = section?.slug ?? "section-\(number)"
            var out: [String] = []
            var warned: [String] = []
            let cases = members.map { result -> JUnitTestCase in
                let name = "\(result.id) \(result.title)"
                let details = detailText(result, catalog: catalog)
                let outcome: JUnitTestCase.Outcome
                switch result.outcome {
                case .pass:
                    outcome = .passed
                case .warn:
                    outcome = .passed
                    warned.append(result.id)
                    out.append("WARN \(result.id) \(result.title): \(headline(result))")
                case .fail:
                    outcome = .failure(message: headline(result), type: result.finding?.level.rawValue ?? "MUST", details: details)
                case .error:
                    outcome = .error(message: result.reason ?? "could not run", type: "ERROR", details: details)
                case .skip:
                    outcome = .skipped(message: result.reason ?? "skipped")
                }
                if verbose ? result.outcome != .skip : [.fail, .warn, .error].contains(result.outcome) {
                    out.append("=== \(result.outcome.rawValue) \(name)\n\(details)")
                }
                return JUnitTestCase(name: name, classname: "gpoll.\(slug)", time: result.seconds, outcome: outcome)
            }
            var properties = commonProperties
            properties.append(JUnitProperty(name: "warned", value: warned.joined(separator: " ")))
            suites.append(JUnitTestSuite(name: section.map { "\($0.number) \($0.title)" } ?? "section \(number)",
                                         package: "gpoll", timestamp: run.started, hostname: hostname,
                                         properties: properties, cases: cases,
                                         systemOut: out.joined(separator: "\n\n"), systemErr: ""))
        }
        return JUnitReport(suites: suites)
    }

    /// `[HS-1] expected ..., got ...` in one line, for the message attribute.
    static func headline(_ result: CaseResult) -> String {
        guard let finding = result.finding else { return result.reason ?? result.outcome.rawValue }
        let id = finding.requirement.map { "[\($0)] " } ?? ""
        return "\(id)expected \(finding.expected); got \(finding.actual)"
    }

    static func detailText(_ result: CaseResult, catalog: CatalogView) -> String {
        var text = ""
        if let reason = result.reason { text += "reason: \(reason)\n" }
        if let finding = result.finding { text += ConsoleReport.describe(finding, catalog: catalog, indent: "") + "\n" }
        if !result.transcript.isEmpty { text += "transcript:\n" + ConsoleReport.render(result.transcript, indent: "  ") }
        return text
    }
}
