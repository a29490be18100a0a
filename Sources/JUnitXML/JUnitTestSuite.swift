import Foundation

/// One `<testsuite>`: for `gpoll-conform`, one section of the specification.
///
/// The counts (``tests``, ``failures``, ``errors``, ``skipped``) are computed
/// from ``cases``; ``time`` is the sum of the case times unless it was set
/// explicitly.
public struct JUnitTestSuite: Sendable, Hashable {
    /// The suite name (`name` attribute). Written as `(unnamed)` when empty or
    /// all whitespace, because the Ant schema requires a non-empty token.
    public var name: String
    /// The `package` attribute, e.g. `gpoll`.
    public var package: String
    /// When the suite ran; written in UTC as `YYYY-MM-DDTHH:MM:SS` (whole
    /// seconds, no zone suffix, clamped to years 0001...9999).
    public var timestamp: Date
    /// The host the suite ran on (`hostname` attribute). Written as
    /// `localhost` when empty or all whitespace.
    public var hostname: String
    /// The `<properties>` of the suite, in order.
    public var properties: [JUnitProperty]
    /// The test cases, in order.
    public var cases: [JUnitTestCase]
    /// The suite's `<system-out>` text (e.g. HTTP transcripts); any text.
    public var systemOut: String
    /// The suite's `<system-err>` text; any text.
    public var systemErr: String
    /// An explicitly set duration in seconds, or `nil` to use the sum of the
    /// case times. Prefer ``time`` to read or set it.
    public var explicitTime: Double?

    /// Creates a suite.
    public init(
        name: String,
        package: String,
        timestamp: Date = Date(),
        hostname: String = "localhost",
        properties: [JUnitProperty] = [],
        cases: [JUnitTestCase] = [],
        systemOut: String = "",
        systemErr: String = "",
        time: Double? = nil
    ) {
        self.name = name
        self.package = package
        self.timestamp = timestamp
        self.hostname = hostname
        self.properties = properties
        self.cases = cases
        self.systemOut = systemOut
        self.systemErr = systemErr
        self.explicitTime = time
    }

    /// The number of test cases.
    public var tests: Int { cases.count }

    /// The number of cases whose outcome is ``JUnitTestCase/Outcome/failure(message:type:details:)``.
    public var failures: Int {
        cases.reduce(0) { if case .failure = $1.outcome { $0 + 1 } else { $0 } }
    }

    /// The number of cases whose outcome is ``JUnitTestCase/Outcome/error(message:type:details:)``.
    public var errors: Int {
        cases.reduce(0) { if case .error = $1.outcome { $0 + 1 } else { $0 } }
    }

    /// The number of cases whose outcome is ``JUnitTestCase/Outcome/skipped(message:)``.
    public var skipped: Int {
        cases.reduce(0) { if case .skipped = $1.outcome { $0 + 1 } else { $0 } }
    }

    /// The suite duration in seconds: the explicitly set value if any,
    /// otherwise the sum of the case times (negative, NaN and infinite case
    /// times count as 0). Setting it stores an explicit value.
    public var time: Double {
        get {
            explicitTime ?? cases.reduce(0.0) { sum, c in
                c.time.isFinite && c.time > 0 ? sum + c.time : sum
            }
        }
        set { explicitTime = newValue }
    }
}
