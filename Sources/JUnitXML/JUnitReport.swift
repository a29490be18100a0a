/// A complete JUnit XML report: a `<testsuites>` element holding one
/// `<testsuite>` per entry of ``suites``, in order.
///
/// Render it with ``JUnitXMLWriter/render(_:)`` or write it with
/// ``JUnitXMLWriter/write(_:toFile:)``.
public struct JUnitReport: Sendable, Hashable {
    /// The test suites, written in this order with `id` 0, 1, 2, ...
    public var suites: [JUnitTestSuite]

    /// Creates a report from its suites.
    public init(suites: [JUnitTestSuite] = []) {
        self.suites = suites
    }
}

/// One `<property name="..." value="..."/>` of a test suite, e.g. the target
/// URL, options, or the suite and spec versions.
public struct JUnitProperty: Sendable, Hashable {
    /// The property name. An empty (or all-whitespace) name is written as
    /// `(unnamed)` because the Ant schema requires a non-empty token.
    public var name: String
    /// The property value; any text.
    public var value: String

    /// Creates a property.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
