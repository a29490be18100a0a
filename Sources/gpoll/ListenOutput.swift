import Foundation
import GPollCore
import GPollClient

/// How `gpoll listen` prints messages and events.
enum ListenFormat {
    /// Each message's bytes and `\n` on standard output; events in words on standard error.
    case lines
    /// Each message's bytes and a NUL byte; events in words on standard error.
    case raw
    /// The line protocol of Conformance's client mode: one JSON object per line, events included.
    case json
}

/// Writes what `gpoll listen` shows. Returns false from a write when standard output has gone.
struct ListenOutput {
    let format: ListenFormat
    /// No event lines on standard error (messages and JSON lines are still written).
    let quiet: Bool
    let url: String

    func registered(_ registration: GPollRegistration) -> Bool {
        switch format {
        case .json:
            return line(["event": .string("registered"), "client-id": .string(registration.id)],
                        order: ["event", "client-id"])
        case .lines, .raw:
            // The id is a bearer secret (CL-25): it is not printed here.
            say("registered at \(url) (\(Self.describe(registration))); waiting for messages")
            return true
        }
    }

    func registeredAgain(_ registration: GPollRegistration, cause: GPollReregistrationCause) -> Bool {
        switch format {
        case .json:
            return line(["event": .string("registered-again"), "client-id": .string(registration.id),
                         "missed": .bool(true), "cause": .string(cause.description)],
                        order: ["event", "client-id", "missed", "cause"])
        case .lines, .raw:
            say("registered again: \(cause); messages published meanwhile may have been missed")
            return true
        }
    }

    func message(_ message: GPollMessage) -> Bool {
        switch format {
        case .json:
            var members: [String: JSONLineValue] = ["event": .string("message"), "data": .string(Data(message.bytes).base64EncodedString())]
            if let text = message.text { members["text"] = .string(text) }
            if let sequence = message.sequence { members["sequence"] = .number(String(sequence)) }
            return line(members, order: ["event", "data", "text", "sequence"])
        case .lines:
            return StandardOutput.write(message.bytes + [UInt8(ascii: "\n")])
        case .raw:
            return StandardOutput.write(message.bytes + [0])
        }
    }

    func backingOff(_ reason: GPollBackoffReason, duration: Duration) -> Bool {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        switch format {
        case .json:
            return line(["event": .string("backoff"), "seconds": .number(String(format: "%.3f", seconds)),
                         "reason": .string(reason.description)],
                        order: ["event", "seconds", "reason"])
        case .lines, .raw:
            say("\(reason)\(Hint.forBackoff(reason, url: url).map { ": " + $0 } ?? ""); next try in \(String(format: "%.1f", seconds)) s")
            return true
        }
    }

    func closed(_ reason: String) {
        switch format {
        case .json: _ = line(["event": .string("closed"), "reason": .string(reason)], order: ["event", "reason"])
        case .lines, .raw: say("stopped: \(reason)")
        }
    }

    /// An event in words on standard error.
    func say(_ text: String) {
        guard !quiet else { return }
        StandardError.write("gpoll: \(text)\n")
    }

    private func line(_ members: [String: JSONLineValue], order: [String]) -> Bool {
        let text = order.compactMap { name in members[name].map { JSONString.quote(name) + ":" + $0.encoded } }
            .joined(separator: ",")
        return StandardOutput.write(Array(("{" + text + "}\n").utf8))
    }

    static func describe(_ registration: GPollRegistration) -> String {
        let settings = registration.settings
        guard !settings.isEmpty else { return "a gpoll/1 server: it advertises no settings" }
        var parts = ["gpoll/\(settings.version ?? "?")"]
        if let timeout = settings.pollTimeoutSeconds {
            parts.append(timeout == 0 ? "polls never time out" : "poll timeout \(Self.number(timeout)) s")
        }
        if let buffer = settings.clientBuffer { parts.append("buffer of \(buffer) messages") }
        parts.append(registration.usesAcknowledgedDelivery ? "acknowledged delivery" : "no acknowledged delivery")
        return parts.joined(separator: ", ")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}

/// The few JSON values the line protocol needs.
enum JSONLineValue {
    case string(String)
    /// A JSON number, already written.
    case number(String)
    case bool(Bool)

    var encoded: String {
        switch self {
        case .string(let text): return JSONString.quote(text)
        case .number(let text): return text
        case .bool(let value): return value ? "true" : "false"
        }
    }
}

/// What to do about a failure, in the words of someone who has seen it before.
enum Hint {
    static func forBackoff(_ reason: GPollBackoffReason, url: String) -> String? {
        switch reason {
        case .unreachable:
            return "is the server running? Check the host and port of \(url) (the reference server starts with `swift run gpoll-server`)"
        case .tlsFailure:
            return "the server's TLS certificate is not trusted or the TLS handshake failed; for a private or self-signed certificate, use --ca-cert FILE with the CA that signed it"
        case .notAHandshakeAnswer:
            return "is \(url) a gpoll endpoint? The handshake answer was not a JSON object with client-id, as GET ?client-id=0 must return"
        case .notFound(request: .handshake):
            return "is \(url) a gpoll endpoint? Check the path (the reference server's default is /poll)"
        case .notFound(request: .poll):
            return "the server did not know an id it had just issued; is a load balancer sending polls to another instance?"
        case .status(let status, let request) where (300..<400).contains(status.code):
            return "the \(request == .handshake ? "handshake" : "poll") was redirected, and gpoll clients do not follow redirects: use the URL it points to"
        case .status(let status, .handshake) where (400..<500).contains(status.code):
            return "is \(url) a gpoll endpoint? It refused the handshake GET ?client-id=0"
        case .retryAfter:
            return "the server is busy and asked to wait"
        case .status, .connectionLost:
            return nil
        }
    }

    /// Which exit code a failure that made the client give up gets.
    static func exitStatus(for reason: GPollBackoffReason) -> Int32 {
        switch reason {
        case .tlsFailure: return ExitStatus.tls
        case .notAHandshakeAnswer, .notFound(request: .handshake): return ExitStatus.notGPoll
        case .status(let status, .handshake) where (300..<500).contains(status.code): return ExitStatus.notGPoll
        default: return ExitStatus.lost
        }
    }
}
