import Foundation

/// What a report says about the run as a whole.
public struct RunInfo: Sendable, Codable {
    public static let toolVersion = "1.0.0"

    public var tool: String = "gpoll-conform"
    public var toolVersion: String = RunInfo.toolVersion
    public var spec: String
    public var specVersion: String
    public var target: String
    /// The command-line options that shape verdicts (settings, --strict), as given.
    public var options: [String]
    public var strict: Bool
    public var started: Date
    public var seconds: Double
    /// --repeat N: how many times the selection ran (nil: once).
    public var repeatCount: Int?

    public init(spec: String, specVersion: String, target: String, options: [String], strict: Bool,
                started: Date, seconds: Double, repeatCount: Int? = nil) {
        self.repeatCount = repeatCount
        self.spec = spec
        self.specVersion = specVersion
        self.target = target
        self.options = options
        self.strict = strict
        self.started = started
        self.seconds = seconds
    }
}
