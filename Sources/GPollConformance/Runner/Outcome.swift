import GPollSpec
import GPollWire

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
    /// With --repeat: some runs passed and some did not (FAIL, WARN or ERROR); the
    /// result's ``CaseResult/runs`` has the counts.
    case flaky = "FLAKY"
}

/// How the runs of a case ended, with --repeat.
public struct RunTally: Sendable, Codable, Equatable {
    public var pass = 0, fail = 0, warn = 0, error = 0, skip = 0

    public init() {}

    public init(_ outcomes: [Outcome]) {
        for outcome in outcomes { add(outcome) }
    }

    public mutating func add(_ outcome: Outcome) {
        switch outcome {
        case .pass: pass += 1
        case .fail: fail += 1
        case .warn: warn += 1
        case .error: error += 1
        case .skip: skip += 1
        case .flaky: break  // a merged outcome, never the outcome of one run
        }
    }

    public var total: Int { pass + fail + warn + error + skip }

    /// `3 pass, 2 fail` (outcomes that occurred, in this order).
    public var description: String {
        [("pass", pass), ("fail", fail), ("warn", warn), ("error", error), ("skip", skip)]
            .filter { $0.1 > 0 }.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
    }
}

/// One broken expectation: the requirement it checks, expected against actual.
public struct Finding: Sendable, Codable, Equatable {
    public var requirement: String?
    public var level: Catalog.Level
    public var expected: String
    public var actual: String

    public init(requirement: String?, level: Catalog.Level, expected: String, actual: String) {
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
    public var section: Int
    public var level: Catalog.Level
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
    /// With --repeat N (N > 1): how the N runs ended. nil for a single run.
    public var runs: RunTally?

    public init(id: String, title: String, section: Int, level: Catalog.Level, requirements: [String],
                outcome: Outcome, reason: String? = nil, finding: Finding? = nil, seconds: Double = 0,
                transcript: [Transcript.Entry] = []) {
        self.id = id; self.title = title; self.section = section; self.level = level
        self.requirements = requirements; self.outcome = outcome; self.reason = reason
        self.finding = finding; self.seconds = seconds; self.transcript = transcript
    }
}

extension CaseResult {
    /// Whether this result fails the run (exit code 1): FAIL, ERROR, and a FLAKY case
    /// one of whose runs failed or could not run. A FLAKY case whose other runs only
    /// WARNed fails the run no more than a WARN does (under --strict those runs were
    /// already FAILs).
    public var failsRun: Bool {
        switch outcome {
        case .fail, .error: return true
        case .flaky: return (runs?.fail ?? 0) > 0 || (runs?.error ?? 0) > 0
        case .pass, .warn, .skip: return false
        }
    }

    /// One case's results from the runs of --repeat, merged into one:
    /// - every run ended alike: that outcome (the first such run's details);
    /// - some passed and some did not: FLAKY, with the details of the first run that
    ///   did not pass (a server author wants to see the bad run);
    /// - none passed but they differ: the worst of them, FAIL before ERROR before WARN.
    /// `runs` counts the outcomes in every case.
    public static func merged(_ runs: [CaseResult]) -> CaseResult {
        precondition(!runs.isEmpty, "no runs to merge")
        let tally = RunTally(runs.map(\.outcome))
        let bad = runs.first { $0.outcome != .pass && $0.outcome != .skip }
        var result: CaseResult
        if let bad, tally.pass > 0 {
            result = bad
            result.outcome = .flaky
        } else if let worst = [Outcome.fail, .error, .warn].lazy.compactMap({ outcome in runs.first { $0.outcome == outcome } }).first {
            result = worst
        } else {
            result = runs[0]
        }
        result.seconds = runs.map(\.seconds).reduce(0, +) / Double(runs.count)
        result.runs = tally
        return result
    }

    /// Merges the results of several runs of the same selection, case by case, in the
    /// order of the first run.
    public static func merged(runs: [[CaseResult]]) -> [CaseResult] {
        guard let first = runs.first else { return [] }
        if runs.count == 1 { return first }
        var byID: [String: [CaseResult]] = [:]
        for run in runs { for result in run { byID[result.id, default: []].append(result) } }
        return first.map { merged(byID[$0.id]!) }
    }
}

/// The counts of each outcome and the process exit code they imply.
public struct Summary: Sendable, Equatable, Codable {
    public var passed = 0, failed = 0, warned = 0, skipped = 0, errors = 0, flaky = 0
    /// How many results fail the run (see ``CaseResult/failsRun``).
    public var failing = 0

    public init(_ results: [CaseResult]) {
        for result in results {
            switch result.outcome {
            case .pass: passed += 1
            case .fail: failed += 1
            case .warn: warned += 1
            case .skip: skipped += 1
            case .error: errors += 1
            case .flaky: flaky += 1
            }
            if result.failsRun { failing += 1 }
        }
    }

    /// `gpoll-conform: 58 passed, 1 failed, 2 warned, 5 skipped, 0 errors`, and
    /// `, 1 flaky` when a case was.
    public var line: String { "gpoll-conform: " + counts }

    /// `58 passed, 1 failed, 2 warned, 5 skipped, 0 errors` (`, 1 flaky` when one was).
    public var counts: String {
        "\(passed) passed, \(failed) failed, \(warned) warned, \(skipped) skipped, \(errors) errors"
            + (flaky > 0 ? ", \(flaky) flaky" : "")
    }

    /// 0 when nothing failed, 1 when a case failed. Under --strict a WARN has already
    /// become FAIL. An ERROR means the verdict is unknown, so it fails the run too:
    /// a CI gate must not pass on a suite that could not run. A FLAKY case fails the
    /// run when one of its runs FAILed or ERRORed: a server that breaks a MUST one
    /// time in five does not conform.
    public var exitCode: Int32 { failing > 0 ? 1 : 0 }
}

extension CaseResult {
    /// The outcome of a case whose body ended with `error` (nil: every check held), in
    /// either mode: a broken MUST fails (a SHOULD warns, or fails under --strict), a
    /// case that could not run is an ERROR, an inconclusive one a SKIP with its reason.
    mutating func conclude(_ error: (any Error)?, strict: Bool) {
        switch error {
        case nil:
            outcome = .pass
        case let stop as CaseStop:
            switch stop {
            case .broken(let found):
                finding = found
                outcome = found.level == .must || strict ? .fail : .warn
            case .couldNotRun(let why):
                outcome = .error
                reason = why
            case .inconclusive(let why):
                outcome = .skip
                reason = why
            }
        case let other?:
            outcome = .error
            reason = "\(other)"
        }
    }
}
