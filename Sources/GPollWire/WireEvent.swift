/// What waiting for the next response on a connection produced.
public enum WireEvent: Sendable {
    case response(WireResponse)
    /// Nothing complete arrived before the deadline; a later wait may still get it.
    case timedOut
    /// The peer closed the connection (FIN or RST) with no further complete response.
    case closed
    /// The bytes received are not a valid HTTP/1.1 response.
    case malformed(String)

    public var response: WireResponse? {
        if case .response(let response) = self { return response }
        return nil
    }

    public var summary: String {
        switch self {
        case .response(let response): return "\(response.status) with a \(response.body.count)-byte body"
        case .timedOut: return "no response"
        case .closed: return "the connection closed without a response"
        case .malformed(let why): return "a malformed response (\(why))"
        }
    }
}

/// Why a connection could not be made or used; turns into an ERROR outcome.
public struct WireError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
