import Foundation

/// A URL the tester talks to (poll endpoint or publish URL), reduced to what a raw
/// HTTP/1.1 client needs.
public struct Endpoint: Sendable, CustomStringConvertible, Hashable {
    public let url: String
    public let isTLS: Bool
    public let host: String
    public let port: Int
    /// The path as given (still percent-encoded), `/` if the URL had none.
    public let path: String
    /// A query the URL already had (without `?`); `client-id` is appended after it.
    public let query: String?
    /// The Host header: host plus the port when the URL named one.
    public let hostHeader: String

    public var description: String { url }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case invalid(String)
        case unsupportedScheme(String)
        case missingHost(String)
        case fragment(String)

        public var description: String {
            switch self {
            case .invalid(let url): return "'\(url)' is not a valid URL"
            case .unsupportedScheme(let url): return "'\(url)' must start with http:// or https://"
            case .missingHost(let url): return "'\(url)' names no host"
            case .fragment(let url): return "'\(url)' has a #fragment, which HTTP never sends"
            }
        }
    }

    public init(_ text: String) throws(ParseError) {
        guard let components = URLComponents(string: text) else { throw .invalid(text) }
        guard let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw .unsupportedScheme(text)
        }
        guard let host = components.host, !host.isEmpty else { throw .missingHost(text) }
        guard components.fragment == nil else { throw .fragment(text) }
        url = text
        isTLS = scheme == "https"
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (isTLS ? 443 : 80)
        path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        query = components.percentEncodedQuery.flatMap { $0.isEmpty ? nil : $0 }
        let bracketed = self.host.contains(":") ? "[\(self.host)]" : self.host
        hostHeader = components.port.map { "\(bracketed):\($0)" } ?? bracketed
    }

    /// The request target for a poll or handshake. `clientID` is the raw, already
    /// percent-encoded text of the parameter value (bytes, since cases send non-UTF-8);
    /// nil sends no `client-id` parameter at all.
    public func target(clientID: [UInt8]?) -> [UInt8] {
        var out = Array(path.utf8)
        var parts: [[UInt8]] = []
        if let query { parts.append(Array(query.utf8)) }
        if let clientID { parts.append(Array("client-id=".utf8) + clientID) }
        if !parts.isEmpty { out += [UInt8(ascii: "?")] + Array(parts.joined(separator: [UInt8(ascii: "&")])) }
        return out
    }

    /// The target of the URL itself (for publishing).
    public var plainTarget: [UInt8] { target(clientID: nil) }
}
