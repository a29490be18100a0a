/// What a gpoll request asks for, decided from the `client-id` value alone
/// (Spec sections 5, 6 and 8). Whether a well-formed id belongs to a live client
/// is the broadcaster's question, answered by ``BroadcasterState/poll(_:token:now:)``.
public enum RequestClassification: Hashable, Sendable {
    /// V absent or shorter than ``handshakeThreshold`` bytes: register a new client.
    case handshake
    /// V is a canonical client id: poll it.
    case poll(ClientID)
    /// Answer 404: V can never designate a client.
    case notFound(NotFoundReason)
    /// Answer 400: V could not be decoded.
    case badRequest(BadRequestReason)

    /// Values shorter than this many bytes are handshakes (Spec HS rules; the original's rule).
    public static let handshakeThreshold = 10

    public init(_ parameter: ClientIDParameter) {
        switch parameter {
        case .absent:
            self = .handshake
        case .invalidPercentEncoding:
            self = .badRequest(.invalidPercentEncoding)
        case .value(let value):
            self.init(value: value)
        }
    }

    public init(value: [UInt8]) {
        if value.count < Self.handshakeThreshold {
            self = .handshake
            return
        }
        switch ClientID.parse(value) {
        case .success(let id): self = .poll(id)
        case .failure(.missingDollar): self = .notFound(.noDollar)
        case .failure(let error): self = .notFound(.malformed(error))
        }
    }

    /// Classifies a whole request target such as `/poll?client-id=0`.
    public init(requestTarget: some Collection<UInt8>) {
        self.init(ClientIDParameter.parse(requestTarget: requestTarget))
    }
}

/// Why a request gets 404; for logs and for the conformance tester's messages.
public enum NotFoundReason: Hashable, Sendable, CustomStringConvertible {
    /// V has 10 bytes or more and no `$`.
    case noDollar
    /// V has a `$` but is not a canonical id (the strict-id rule).
    case malformed(ClientIDGrammarError)
    /// V is a canonical id that no live client of this endpoint has: never issued,
    /// issued by another endpoint, evicted, expired, or another routine's prefix.
    case unknownClient

    public var description: String {
        switch self {
        case .noDollar: return "client-id of 10 bytes or more without '$'"
        case .malformed(let error): return "client-id is not canonical: \(error)"
        case .unknownClient: return "client-id names no live client"
        }
    }
}

public enum BadRequestReason: Hashable, Sendable, CustomStringConvertible {
    case invalidPercentEncoding

    public var description: String {
        switch self {
        case .invalidPercentEncoding: return "client-id has an invalid percent escape"
        }
    }
}
