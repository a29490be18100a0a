import GPollCore
import NIOHTTP1

/// Which web origins may read the gpoll listener's answers from a page of theirs
/// (Fetch standard, CORS protocol): pure logic, request headers in, response headers out.
/// ``GPollCORSHandler`` applies it on a connection.
///
/// A browser sends a gpoll handshake or poll (a GET without custom headers) as a
/// simple request: it goes out at once with an `Origin` header, and the page may
/// read the answer only when it carries `Access-Control-Allow-Origin` for that
/// origin. The server cannot stop the request itself (a refused origin's handshake
/// still registers a client, as any HTTP client's would), but a refused page never
/// sees an id nor a message. Preflights (`OPTIONS` with
/// `Access-Control-Request-Method`) come only from pages that add headers or
/// credentials; they are answered here, 204, and never reach gpoll, so that they
/// cannot register a client or take a message.
public struct CORSPolicy: Sendable, Hashable {
    /// The origins allowed; empty when ``allowsAnyOrigin``.
    public let origins: Set<String>
    /// `*`: every origin may read the answers (`Access-Control-Allow-Origin: *`).
    public let allowsAnyOrigin: Bool

    /// The response headers gpoll.js (Clients/js/gpoll.js) reads besides the
    /// CORS-safelisted ones; a page can read no other header of a cross-origin answer.
    public static let exposedHeaders = [GPollHeaderName.sequence, GPollHeaderName.reason, "Retry-After"]
    /// How long a browser may cache a preflight's answer, in seconds.
    public static let preflightMaxAgeSeconds = 600

    /// `origins` as given to `--cors-origin`: each a serialized origin
    /// (`scheme://host[:port]`, as browsers send it in `Origin`), or `*` alone for any origin.
    public init(allowing origins: [String]) throws {
        var problems: [String] = []
        if origins.isEmpty { problems.append("CORS needs at least one origin (or '*')") }
        if origins.contains("*") {
            if origins.count > 1 { problems.append("CORS origin '*' allows every origin: give it alone") }
            self.origins = []
            self.allowsAnyOrigin = true
        } else {
            problems += origins.compactMap(Self.originProblem)
            self.origins = Set(origins)
            self.allowsAnyOrigin = false
        }
        guard problems.isEmpty else { throw GPollConfigurationError(problems: problems) }
    }

    /// Why `origin` is not a serialized origin a browser would send, or nil.
    public static func originProblem(_ origin: String) -> String? {
        let scheme: Substring
        if origin.hasPrefix("http://") { scheme = "http://" } else if origin.hasPrefix("https://") { scheme = "https://" } else {
            return "CORS origin '\(origin)' must start with http:// or https:// (an origin as browsers send it, e.g. https://example.com:8443)"
        }
        let authority = origin.dropFirst(scheme.count)
        if authority.isEmpty || authority.contains(where: { "/?#@ ".contains($0) || $0.isUppercase }) {
            return "CORS origin '\(origin)' must be scheme://host[:port] in lower case, with no path, query or trailing '/'"
        }
        return nil
    }

    /// What to do with one request.
    enum Decision: Equatable, Sendable {
        /// Serve the request as usual and add these headers to its answer (none for a
        /// request without `Origin` or from an origin not allowed, but `Vary: Origin`).
        case serve(addingHeaders: [Header])
        /// A preflight: answer 204 with these headers yourself; do not serve it.
        case answerPreflight(headers: [Header])
    }

    struct Header: Equatable, Sendable {
        var name: String
        var value: String
        init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    func decide(method: HTTPMethod, headers: HTTPHeaders) -> Decision {
        // One Origin, exactly as sent; anything else (none, several) is no cross-origin read.
        let sent = headers[canonicalForm: "origin"]
        let origin = sent.count == 1 ? String(sent[0]) : nil
        let allowed = origin.map { allowsAnyOrigin || origins.contains($0) } ?? false
        // With a list the answer depends on Origin, so a cache must key on it; `*` does not.
        let vary = allowsAnyOrigin ? [] : [Header("Vary", "Origin")]
        let isPreflight = method == .OPTIONS && origin != nil && headers.contains(name: "access-control-request-method")
        guard allowed, let origin else {
            // No CORS headers: the browser refuses the page the answer (or the request, after a preflight).
            return isPreflight ? .answerPreflight(headers: vary) : .serve(addingHeaders: vary)
        }
        let allowOrigin = Header("Access-Control-Allow-Origin", allowsAnyOrigin ? "*" : origin)
        if isPreflight {
            // gpoll is GET without request headers of its own; no header beyond the
            // safelisted ones is allowed, so a preflight for one fails in the browser.
            return .answerPreflight(headers: [allowOrigin] + vary + [
                Header("Access-Control-Allow-Methods", "GET"),
                Header("Access-Control-Max-Age", String(Self.preflightMaxAgeSeconds)),
            ])
        }
        return .serve(addingHeaders: [allowOrigin] + vary + [
            Header("Access-Control-Expose-Headers", Self.exposedHeaders.joined(separator: ", ")),
        ])
    }
}
