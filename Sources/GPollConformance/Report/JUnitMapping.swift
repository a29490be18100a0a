import Foundation
import GPollSpec
import JUnitXML

/// Turns results into JUnit XML that CI servers accept: one `<testsuite>` per Spec
/// section, one `<testcase>` per case named "<id> <title>" with classname
/// `gpoll.<slug>`.
///
/// - FAIL: `<failure type="MUST">` (`type="SHOULD"` for a SHOULD under --strict).
/// - ERROR: `<error type="ERROR">`. SKIP: `<skipped message="reason">`.
/// - WARN: a passing `<testcase>` (CI must not go red on a SHOULD) whose own
///   `<system-out>` starts with `WARN`, with the requirement, expected and actual.
/// - FLAKY (--repeat): `<failure type="FLAKY">` when one of its runs failed the run
///   (FAIL or ERROR), else a passing `<testcase>`; either way its `<system-out>`
///   starts with `FLAKY` and the counts (`FLAKY: 3 pass, 2 fail in 5 runs`).
///
/// Properties: the run-wide ones (target, options, versions, strict, repeat) are
/// written once, in the first `<testsuite>`; every suite adds `<slug>.warned` and
/// `<slug>.flaky` listing its case ids. No property name occurs twice in a report:
/// xunitparser merges the properties of all suites and asserts that names are unique.
///
/// Transcripts of FAIL, WARN, FLAKY and ERROR cases (all cases with --verbose) go to
/// the suite's `<system-out>`; the failure's own text carries the finding and transcript too.
///
/// Per-case `<system-out>` is in the Jenkins (Surefire) schema but not in the Ant
/// schema, which allows nothing but the outcome element inside a `<testcase>`; the
/// rest of the report is valid for both.
public enum JUnitMapping {
    /// `perCaseOutput`: give WARN and FLAKY cases a `<system-out>` of their own (valid
    /// for the Jenkins/Surefire schema); false for a report valid for Ant's too.
    public static func report(results: [CaseResult], catalog: Catalog, run: RunInfo, verbose: Bool,
                              perCaseOutput: Bool = true,
                              hostname: String = ProcessInfo.processInfo.hostName) -> JUnitReport {
        var runProperties = [
            JUnitProperty(name: "target", value: run.target),
            JUnitProperty(name: "options", value: run.options.joined(separator: " ")),
            JUnitProperty(name: "gpoll-conform.version", value: run.toolVersion),
            JUnitProperty(name: "spec", value: run.spec),
            JUnitProperty(name: "spec.version", value: run.specVersion),
            JUnitProperty(name: "strict", value: run.strict ? "true" : "false"),
        ]
        if let repeats = run.repeatCount, repeats > 1 {
            runProperties.append(JUnitProperty(name: "repeat", value: String(repeats)))
        }
        var suites: [JUnitTestSuite] = []
        // Sections in catalog order; results whose section is unknown still get a suite.
        var sectionOrder = catalog.sections.map(\.number)
        for result in results where !sectionOrder.contains(result.section) { sectionOrder.append(result.section) }

        for number in sectionOrder {
            let members = results.filter { $0.section == number }
            guard !members.isEmpty else { continue }
            let section = catalog.section(number: number)
            let slug = section?.slug ?? "section-\(number)"
            var out: [String] = []
            let cases = members.map { result -> JUnitTestCase in
                let name = "\(result.id) \(result.title)"
                let details = detailText(result, catalog: catalog)
                let outcome: JUnitTestCase.Outcome
                switch result.outcome {
                case .pass:
                    outcome = .passed
                case .warn:
                    outcome = .passed
                    out.append("WARN \(result.id) \(result.title): \(headline(result))")
                case .flaky:
                    outcome = result.failsRun ? .failure(message: "FLAKY (\(result.runs?.description ?? "")): \(headline(result))",
                                                         type: "FLAKY", details: details) : .passed
                    out.append("FLAKY \(result.id) \(result.title) (\(result.runs?.description ?? "")): \(headline(result))")
                case .fail:
                    outcome = .failure(message: headline(result), type: result.finding?.level.rawValue ?? "MUST", details: details)
                case .error:
                    outcome = .error(message: result.reason ?? "could not run", type: "ERROR", details: details)
                case .skip:
                    outcome = .skipped(message: result.reason ?? "skipped")
                }
                if verbose ? result.outcome != .skip : [.fail, .warn, .flaky, .error].contains(result.outcome) {
                    out.append("=== \(result.outcome.rawValue) \(name)\n\(details)")
                }
                return JUnitTestCase(name: name, classname: "gpoll.\(slug)", time: result.seconds, outcome: outcome,
                                     systemOut: perCaseOutput ? caseOutput(result, catalog: catalog) : "")
            }
            var properties = suites.isEmpty ? runProperties : []
            properties.append(JUnitProperty(name: "\(slug).warned", value: members.filter { $0.outcome == .warn }.map(\.id).joined(separator: " ")))
            properties.append(JUnitProperty(name: "\(slug).flaky", value: members.filter { $0.outcome == .flaky }.map(\.id).joined(separator: " ")))
            suites.append(JUnitTestSuite(name: section.map { "\($0.number) \($0.title)" } ?? "section \(number)",
                                         package: "gpoll", timestamp: run.started, hostname: hostname,
                                         properties: properties, cases: cases,
                                         systemOut: out.joined(separator: "\n\n"), systemErr: ""))
        }
        return JUnitReport(suites: suites)
    }

    /// The `<system-out>` of a WARN or FLAKY case: what makes it one, first line
    /// first (`WARN [HS-3] expected ...; got ...`), then the details. Empty for the
    /// other outcomes, whose `<failure>`, `<error>` or `<skipped>` already says it.
    static func caseOutput(_ result: CaseResult, catalog: Catalog) -> String {
        switch result.outcome {
        case .warn:
            return "WARN \(headline(result))\n" + detailText(result, catalog: catalog)
        case .flaky:
            let tally = result.runs
            return "FLAKY: \(tally?.description ?? "") in \(tally?.total ?? 0) runs\n"
                + "a run that did not pass: \(headline(result))\n" + detailText(result, catalog: catalog)
        case .pass, .fail, .error, .skip:
            return ""
        }
    }

    /// `[HS-1] expected ..., got ...` in one line, for the message attribute.
    static func headline(_ result: CaseResult) -> String {
        guard let finding = result.finding else { return result.reason ?? result.outcome.rawValue }
        let id = finding.requirement.map { "[\($0)] " } ?? ""
        return "\(id)expected \(finding.expected); got \(finding.actual)"
    }

    static func detailText(_ result: CaseResult, catalog: Catalog) -> String {
        var text = ""
        if let runs = result.runs { text += "runs: \(runs.description)\n" }
        if let reason = result.reason { text += "reason: \(reason)\n" }
        if let finding = result.finding { text += ConsoleReport.describe(finding, catalog: catalog, indent: "") + "\n" }
        if !result.transcript.isEmpty { text += "transcript:\n" + ConsoleReport.render(result.transcript, indent: "  ") }
        return text
    }
}
