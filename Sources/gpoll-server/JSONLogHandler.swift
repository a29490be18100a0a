import Foundation
import GPollCore
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--log-format json`: one JSON object per line on standard error, for a log
/// collector: `{"time":"…","level":"info","label":"gpoll-server","message":"…", …}`
/// with each metadata key as a member of its own (nested metadata as JSON).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = "{"
        line += Self.member("time", .string(Self.timestamp()))
        line += "," + Self.member("level", .string(event.level.rawValue))
        line += "," + Self.member("label", .string(label))
        line += "," + Self.member("message", .string(event.message.description))
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["time", "level", "label", "message"].contains(key) {
            line += "," + Self.member(key, value)
        }
        line += "}\n"
        Self.writeToStandardError(line)
    }

    /// One write(2) per line, so that lines of concurrent loggers do not interleave.
    static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    static func member(_ key: String, _ value: Logger.MetadataValue) -> String {
        JSONString.quote(key) + ":" + encode(value)
    }

    static func encode(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let string): return JSONString.quote(string)
        case .stringConvertible(let convertible): return JSONString.quote(convertible.description)
        case .array(let values): return "[" + values.map(encode).joined(separator: ",") + "]"
        case .dictionary(let members):
            return "{" + members.sorted(by: { $0.key < $1.key }).map { member($0.key, $0.value) }.joined(separator: ",") + "}"
        }
    }

    static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
