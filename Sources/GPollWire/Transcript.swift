import Foundation
import Synchronization

/// The HTTP exchange of one case, as shown for FAIL, WARN and ERROR (and for every case
/// with --verbose). Shared by all connections of a case; safe from any thread.
public final class Transcript: Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        /// Milliseconds since the case started.
        public var milliseconds: Int
        /// Which connection, `c1`, `c2`, ..., or `--` for notes and publishes.
        public var connection: String
        /// `>` request, `<` response, `*` note.
        public var direction: String
        public var text: String
        /// For a `>` entry: the exact bytes sent and where, for `--reproduce`. Kept out
        /// of the JSON report (it holds publish credentials and whole bodies).
        public var sent: Sent?

        public init(milliseconds: Int, connection: String, direction: String, text: String, sent: Sent? = nil) {
            self.milliseconds = milliseconds
            self.connection = connection
            self.direction = direction
            self.text = text
            self.sent = sent
        }

        enum CodingKeys: String, CodingKey { case milliseconds, connection, direction, text }
    }

    /// What a `>` entry put on the wire, whole (the entry's text is cut for reading).
    public struct Sent: Sendable, Equatable {
        /// The URL of the connection's endpoint (poll endpoint or publish URL).
        public var endpoint: String
        /// The Host header value the tester sends to it.
        public var hostHeader: String
        /// A structured request (nil for raw bytes).
        public var method: String?
        public var target: [UInt8]
        public var headers: [Header]
        public var body: [UInt8]
        /// Every byte sent, in order (the serialised request, or the raw bytes).
        public var bytes: [UInt8]

        public struct Header: Sendable, Equatable {
            public var name: String
            public var value: String
        }

        public var isRaw: Bool { method == nil }
    }

    /// Bodies longer than this are cut; the full length is noted, so a truncation by the
    /// server is still visible.
    public static let bodyPreviewLimit = 512

    private let start: ContinuousClock.Instant
    private let state = Mutex<(entries: [Entry], connections: Int)>(([], 0))

    public init(start: ContinuousClock.Instant = .now) { self.start = start }

    public var entries: [Entry] { state.withLock { $0.entries } }

    /// A fresh label for a new connection.
    func nextConnectionLabel() -> String {
        state.withLock { value in
            value.connections += 1
            return "c\(value.connections)"
        }
    }

    public func note(_ text: String, connection: String = "--") {
        append(connection: connection, direction: "*", text: text)
    }

    func request(_ request: WireRequest, connection: String, endpoint: Endpoint? = nil) {
        let target = Self.escape(request.target, limit: 200)
        var text = "\(request.method) \(target)"
        if !request.body.isEmpty { text += "\n" + Self.bodyText(request.body) }
        let sent = endpoint.map {
            Sent(endpoint: $0.url, hostHeader: $0.hostHeader, method: request.method, target: request.target,
                 headers: request.headers.map { Sent.Header(name: $0.0, value: $0.1) }, body: request.body,
                 bytes: request.serialized(host: $0.hostHeader))
        }
        append(connection: connection, direction: ">", text: text, sent: sent)
    }

    func raw(_ bytes: [UInt8], connection: String, endpoint: Endpoint? = nil) {
        let sent = endpoint.map {
            Sent(endpoint: $0.url, hostHeader: $0.hostHeader, method: nil, target: [], headers: [], body: [], bytes: bytes)
        }
        append(connection: connection, direction: ">", text: "raw bytes: " + Self.escape(bytes, limit: Self.bodyPreviewLimit), sent: sent)
    }

    package func event(_ event: WireEvent, connection: String) {
        switch event {
        case .response(let response):
            var text = "\(response.version) \(response.status) \(response.reason)"
            for (name, value) in response.headers { text += "\n\(name): \(value)" }
            text += "\n" + Self.bodyText(response.body)
            append(connection: connection, direction: "<", text: text)
        case .timedOut:
            append(connection: connection, direction: "*", text: "no response yet")
        case .closed:
            append(connection: connection, direction: "*", text: "connection closed by the server")
        case .malformed(let why):
            append(connection: connection, direction: "*", text: "malformed response: \(why)")
        }
    }

    private func append(connection: String, direction: String, text: String, sent: Sent? = nil) {
        let elapsed = ContinuousClock.now - start
        let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        state.withLock { $0.entries.append(Entry(milliseconds: ms, connection: connection, direction: direction, text: text, sent: sent)) }
    }

    /// The transcript as text lines, e.g. `  +12ms c1 > GET /poll?client-id=0`.
    public func render(indent: String = "  ") -> String {
        entries.map { entry in
            let lines = entry.text.split(separator: "\n", omittingEmptySubsequences: false)
            let head = "\(indent)+\(entry.milliseconds)ms \(entry.connection) \(entry.direction) "
            let pad = String(repeating: " ", count: head.count)
            return lines.enumerated().map { ($0.offset == 0 ? head : pad) + $0.element }.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    package static func bodyText(_ body: [UInt8]) -> String {
        if body.isEmpty { return "(empty body)" }
        let shown = escape(body, limit: bodyPreviewLimit)
        return body.count > bodyPreviewLimit ? "body: \(shown)... (\(body.count) bytes in all)" : "body: \(shown)"
    }

    /// Printable ASCII as is; everything else as `\xHH`, so transcripts stay one
    /// readable line per item and safe for terminals and XML alike.
    package static func escape(_ bytes: some Collection<UInt8>, limit: Int) -> String {
        var out = ""
        for byte in bytes.prefix(limit) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else if byte == UInt8(ascii: "\\") {
                out += "\\\\"
            } else {
                out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    package func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
