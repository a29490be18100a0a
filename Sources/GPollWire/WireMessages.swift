/// An HTTP/1.1 request as the tester puts it on the wire. Serialised by hand (not by
/// NIO's encoder) so that a case controls every byte, including ones a client
/// library would refuse to send.
public struct WireRequest: Sendable {
    public var method: String
    /// The request target exactly as sent, for example `/poll?client-id=0`.
    public var target: [UInt8]
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String = "GET", target: [UInt8], headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    public init(method: String = "GET", target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.init(method: method, target: Array(target.utf8), headers: headers, body: body)
    }

    /// The bytes of the request. `Host` is added when absent (HTTP/1.1 requires it), and
    /// `Content-Length` whenever there is a body or the method usually carries one.
    public func serialized(host: String) -> [UInt8] {
        var head = Array("\(method) ".utf8) + target + Array(" HTTP/1.1\r\n".utf8)
        var fields = headers
        if !fields.contains(where: { $0.0.lowercased() == "host" }) { fields.insert(("Host", host), at: 0) }
        let needsLength = !body.isEmpty || method == "POST" || method == "PUT"
        if needsLength && !fields.contains(where: { $0.0.lowercased() == "content-length" }) {
            fields.append(("Content-Length", String(body.count)))
        }
        for (name, value) in fields { head += Array("\(name): \(value)\r\n".utf8) }
        head += Array("\r\n".utf8)
        return head + body
    }
}

/// A complete response as the tester received it.
public struct WireResponse: Sendable {
    public var status: Int
    public var reason: String
    public var version: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// When its last byte arrived, which may be long before a case reads it (a poll's
    /// 204 that waited unread while the case did other things).
    public var received: ContinuousClock.Instant

    public init(status: Int, reason: String = "", version: String = "HTTP/1.1", headers: [(String, String)] = [], body: [UInt8] = [],
                received: ContinuousClock.Instant = .now) {
        self.received = received
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// All values of a header, case-insensitively (field names are case-insensitive in HTTP).
    public func values(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.0.lowercased() == lower }.map { $0.1 }
    }

    public func value(_ name: String) -> String? { values(name).first }

    /// Whether any Cache-Control field carries the directive, ignoring case and order.
    public func cacheControlHas(_ directive: String) -> Bool {
        values("Cache-Control")
            .flatMap { $0.split(separator: ",") }
            .map { $0.split(separator: "=").first.map(String.init)?.trimmingCharacters(in: .whitespaces).lowercased() ?? "" }
            .contains(directive.lowercased())
    }

    /// The media type of Content-Type without parameters, lowercased; nil if absent.
    public var mediaType: String? {
        value("Content-Type").map {
            String($0.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        }
    }
}

import Foundation
