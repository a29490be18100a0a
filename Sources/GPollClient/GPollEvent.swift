import GPollCore

/// What a ``GPollClient`` tells its application, in the order things happen.
public enum GPollEvent: Sendable, Hashable {
    /// The client registered (a handshake was answered) and is polling with this id.
    case registered(GPollRegistration)
    /// A message, exactly the bytes the server sent (CL-8): never re-parsed, possibly empty.
    case message(GPollMessage)
    /// The client had to register again and now polls with a new id: messages
    /// published since its last delivery may have been missed (CL-14).
    case registeredAgain(GPollRegistration, cause: GPollReregistrationCause)
    /// The client waits this long before its next request, for this reason
    /// (a failure, CL-16, or the server's `Retry-After`, CL-17).
    case backingOff(reason: GPollBackoffReason, duration: Duration)
}

/// One registration: the id a handshake issued and what the server advertised with it.
public struct GPollRegistration: Sendable, Hashable {
    /// The id, exactly the decoded JSON string of `client-id` (CL-5). It is a bearer
    /// secret (CL-25): whoever knows it can take this client's messages, so do not log it.
    public let id: String
    /// What the handshake object advertised (Spec section 17); empty for a gpoll/1 server.
    public let settings: AdvertisedSettings
    /// True when the client uses acknowledged delivery for this id (the server offers
    /// `ack` and the client was not told to do without it).
    public let usesAcknowledgedDelivery: Bool
}

/// A message as received.
public struct GPollMessage: Sendable, Hashable {
    /// The message body, byte for byte.
    public let bytes: [UInt8]
    /// The per-client sequence number (`GPoll-Sequence`) under acknowledged delivery; nil without it.
    public let sequence: UInt64?

    /// Creates a message from its bytes, with the sequence number it arrived with.
    public init(bytes: [UInt8], sequence: UInt64? = nil) {
        self.bytes = bytes
        self.sequence = sequence
    }

    /// The bytes as text when they are valid UTF-8, else nil: a message need not be text.
    public var text: String? {
        String(validating: bytes, as: UTF8.self)
    }
}

/// Why the client registered again.
public enum GPollReregistrationCause: Sendable, Hashable, CustomStringConvertible {
    /// A poll was answered 404: the server no longer knows the id (CL-13). The
    /// `GPoll-Reason` header says why when the server sends one (NF-9).
    case notFound(reason: GPollReason?)
    /// Two early 204s in a row: another poller holds the id (CL-12).
    case idHeldElsewhere
    /// A poll was refused with this 4xx status (CL-19).
    case pollRefused(status: Int)

    /// The cause in a few words, for a person.
    public var description: String {
        switch self {
        case .notFound(let reason?): return "the server no longer knows the id (404, \(reason.rawValue))"
        case .notFound(nil): return "the server no longer knows the id (404)"
        case .idHeldElsewhere: return "another poller holds the id (two early 204s in a row)"
        case .pollRefused(let status): return "the server refused a poll (\(status))"
        }
    }
}

/// Why the client waits before its next request.
public enum GPollBackoffReason: Sendable, Hashable, CustomStringConvertible {
    /// The server answered 429 or 503 with a `Retry-After` (CL-17): it asked for the wait.
    case retryAfter(HTTPStatusLine)
    /// An answer that is a failure (CL-16): a 5xx, a 429 or 503 without `Retry-After`,
    /// a 3xx (never followed, CL-18), a 4xx other than 404 (CL-19), or a status that
    /// does not answer the request.
    case status(HTTPStatusLine, request: GPollRequestKind)
    /// A 404 to a handshake, or to the first poll of an id just issued: the URL is
    /// not a gpoll endpoint, or the deployment routed the poll to another instance.
    case notFound(request: GPollRequestKind)
    /// A 200 to a handshake whose body is not a JSON object with a string `client-id`
    /// of 10 bytes or more (CL-4); the text says what was wrong.
    case notAHandshakeAnswer(String)
    /// No connection could be made (refused, no such host, connect timeout).
    case unreachable(String)
    /// The TLS handshake failed: most often the server's certificate is not trusted.
    case tlsFailure(String)
    /// The connection was lost before an answer (a handshake's, or a poll's for the
    /// second time in a row, CL-20), or a handshake's request deadline passed.
    case connectionLost(String)

    /// The reason in a few words, for a person: `503 Service Unavailable`, `connection refused`.
    public var description: String {
        switch self {
        case .retryAfter(let status): return "\(status) (Retry-After)"
        case .status(let status, _): return status.description
        case .notFound(.handshake): return "404 Not Found to the handshake"
        case .notFound(.poll): return "404 Not Found to the first poll of a new id"
        case .notAHandshakeAnswer(let problem): return "not a handshake answer: \(problem)"
        case .unreachable(let detail): return "unreachable: \(detail)"
        case .tlsFailure(let detail): return "TLS failure: \(detail)"
        case .connectionLost(let detail): return "connection lost: \(detail)"
        }
    }
}

/// A status code with its reason phrase, as the server sent them.
public struct HTTPStatusLine: Sendable, Hashable, CustomStringConvertible {
    /// The status code, such as 503.
    public let code: Int
    /// The reason phrase, such as `Service Unavailable`.
    public let reasonPhrase: String

    /// Creates a status line.
    public init(code: Int, reasonPhrase: String) {
        self.code = code
        self.reasonPhrase = reasonPhrase
    }

    /// `503 Service Unavailable`.
    public var description: String { reasonPhrase.isEmpty ? String(code) : "\(code) \(reasonPhrase)" }
}

/// The two requests of the protocol.
public enum GPollRequestKind: Sendable, Hashable {
    /// `GET endpoint?client-id=0`.
    case handshake
    /// `GET endpoint?client-id=<id>[&ack=n]`.
    case poll
}
