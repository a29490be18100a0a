import Foundation

/// An `http://` or `https://` URL taken apart the way the load driver needs it:
/// where to connect, and the request target to send.
struct BenchURL: Hashable, Sendable, CustomStringConvertible {
    var tls: Bool
    var host: String
    var port: Int
    /// The path, at least `/`.
    var path: String
    /// The query without its `?`, or nil if there is none.
    var query: String?

    /// The text this URL was parsed from.
    let description: String

    /// Parses `text`; the error says in words what is wrong with it.
    static func parse(_ text: String, role: String) -> Result<BenchURL, BenchOptionsError> {
        func fail(_ why: String) -> Result<BenchURL, BenchOptionsError> {
            .failure(BenchOptionsError("\(role) '\(text)' \(why)"))
        }
        guard let components = URLComponents(string: text) else { return fail("is not a URL") }
        guard let scheme = components.scheme?.lowercased() else { return fail("has no scheme: use http:// or https://") }
        guard scheme == "http" || scheme == "https" else { return fail("has scheme '\(scheme)': use http:// or https://") }
        guard let host = components.host, !host.isEmpty else { return fail("has no host") }
        if components.user != nil || components.password != nil { return fail("must not carry user information") }
        if components.fragment != nil { return fail("must not have a fragment ('#')") }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { return fail("has port \(port), not between 1 and 65535") }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let query = components.percentEncodedQuery
        if let query, query.split(separator: "&").contains(where: { $0 == "client-id" || $0.hasPrefix("client-id=") }) {
            return fail("already has a client-id parameter: the bench sets it itself")
        }
        // A literal IPv6 address comes back in brackets; connecting wants it bare.
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return .success(BenchURL(tls: scheme == "https", host: bareHost, port: port, path: path, query: query, description: text))
    }

    init(tls: Bool, host: String, port: Int, path: String, query: String?, description: String) {
        self.tls = tls
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.description = description
    }

    /// The request target with `client-id=value` added to the query.
    func target(clientID value: String) -> String {
        if let query, !query.isEmpty { return "\(path)?\(query)&client-id=\(value)" }
        return "\(path)?client-id=\(value)"
    }

    /// The request target as given (path and query).
    var target: String {
        if let query { return "\(path)?\(query)" }
        return path
    }

    /// The value of the `Host` header.
    var hostHeader: String {
        let defaultPort = tls ? 443 : 80
        let name = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? name : "\(name):\(port)"
    }
}
