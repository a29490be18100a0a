/// How a case ended.
public enum Outcome: String, Sendable, Codable, CaseIterable {
    /// Every check held.
    case pass = "PASS"
    /// A MUST was broken (or a SHOULD under --strict).
    case fail = "FAIL"
    /// A SHOULD was broken; not a failure unless --strict.
    case warn = "WARN"
    /// Not run, with the reason (a need not given on the command line, for example).
    case skip = "SKIP"
    /// The case could not run to a verdict: refused connection, publish URL failing, time-out.
    case error = "ERROR"
}

/// One broken expectation: the requirement it checks, expected against actual.
public struct Finding: Sendable, Codable, Equatable {
    public var requirement: String?
    public var level: CatalogView.Level
    public var expected: String
    public var actual: String

    public init(requirement: String?, level: CatalogView.Level, expected: String, actual: String) {
        self.requirement = requirement
        self.level = level
        self.expected = expected
        self.actual = actual
    }
}

/// A finished case, as every report shows it.
public struct CaseResult: Sendable, Codable {
    public var id: String
    public var title: String
    public var section: String
    public var level: CatalogView.Level
    public var requirements: [String]
    public var outcome: Outcome
    /// SKIP and ERROR: why.
    public var reason: String?
    public var finding: Finding?
    public var seconds: Double
    /// The lane (broadcast domain) the case ran in, `A` or `B`, and that lane's poll
    /// URL, so that a result can be reproduced; nil for a skipped case.
    public var lane: String?
    public var endpoint: String?
    public var transcript: [Transcript.Entry]

    public init(id: String, title: String, section: String, level: CatalogView.Level, requirements: [String],
                outcome: Outcome, reason: String? = nil, finding: Finding? = nil, seconds: Double = 0,
                transcript: [Transcript.Entry] = []) {
        self.id = id; self.title = title; self.section = section; self.level = level
        self.requirements = requirements; self.outcome = outcome; self.reason = reason
        self.finding = finding; self.seconds = seconds; self.transcript = transcript
    }
}

/// The counts of each outcome and the process exit code they imply.
public struct Summary: Sendable, Equatable, Codable {
    public var passed = 0, failed = 0, warned = 0, skipped = 0, errors = 0

    public init(_ results: [CaseResult]) {
        for result in results {
            switch result.outcome {
            case .pass: passed += 1
            case .fail: failed += 1
            case .warn: warned += 1
            case .skip: skipped += 1
            case .error: errors += 1
            }
        }
    }

    /// `gpoll-conform: 58 passed, 1 failed, 2 warned, 5 skipped, 0 errors`
    public var line: String {
        "gpoll-conform: \(passed) passed, \(failed) failed, \(warned) warned, \(skipped) skipped, \(errors) errors"
    }

    /// 0 when nothing failed, 1 when a case failed. Under --strict a WARN has already
    /// become FAIL. An ERROR means the verdict is unknown, so it fails the run too:
    /// a CI gate must not pass on a suite that could not run.
    public var exitCode: Int32 { failed > 0 || errors > 0 ? 1 : 0 }
}
