/// One `<testcase>`: for `gpoll-conform`, one conformance case, named
/// `"<case id> <title>"` with a class name such as `gpoll.handshake`.
public struct JUnitTestCase: Sendable, Hashable {
    /// How a test case ended. Each non-passing outcome becomes one child
    /// element of the `<testcase>`.
    public enum Outcome: Sendable, Hashable {
        /// The case passed: no child element.
        case passed
        /// The case failed (FAIL): `<failure message="..." type="...">details</failure>`.
        case failure(message: String, type: String, details: String)
        /// The case could not be run properly (ERROR):
        /// `<error message="..." type="...">details</error>`.
        case error(message: String, type: String, details: String)
        /// The case was skipped (SKIP): `<skipped message="..."/>`.
        case skipped(message: String)
    }

    /// The `name` attribute, e.g. `"HS-3 Server answers 400 to a bad version"`.
    public var name: String
    /// The `classname` attribute, e.g. `gpoll.handshake`.
    public var classname: String
    /// Duration in seconds. Written with three decimals; negative and NaN
    /// values are written as `0.000`, huge or infinite ones are capped.
    public var time: Double
    /// How the case ended.
    public var outcome: Outcome
    /// The case's own `<system-out>`, written after the outcome element when not
    /// empty. The Jenkins (Surefire) schema allows it and junitparser, xunitparser,
    /// Jenkins and GitLab show it with the case; the Ant schema has no such element,
    /// so a report using it is valid for the Jenkins schema only.
    public var systemOut: String

    /// Creates a test case.
    public init(name: String, classname: String, time: Double = 0, outcome: Outcome = .passed, systemOut: String = "") {
        self.name = name
        self.classname = classname
        self.time = time
        self.outcome = outcome
        self.systemOut = systemOut
    }
}
