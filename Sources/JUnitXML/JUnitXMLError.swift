/// Errors thrown by ``JUnitXMLWriter`` and ``JUnitSchemaValidator``.
public enum JUnitXMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A libxml2 call failed; `function` is its name and `code` its return
    /// code (or -1 when it returned NULL).
    case libxml2(function: String, code: Int32)
    /// Writing the report file failed.
    case fileWrite(path: String, reason: String)
    /// The XML Schema at `path` could not be read or is not a valid schema.
    case schemaUnusable(path: String, messages: [String])

    public var description: String {
        switch self {
        case let .libxml2(function, code):
            "libxml2 call \(function) failed (returned \(code))"
        case let .fileWrite(path, reason):
            "cannot write JUnit report to \(path): \(reason)"
        case let .schemaUnusable(path, messages):
            "cannot use XML schema \(path)"
                + (messages.isEmpty ? "" : ": " + messages.joined(separator: "; "))
        }
    }
}
