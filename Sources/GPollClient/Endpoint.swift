import Foundation

/// The endpoint URL and the request targets of the protocol's two requests.
struct Endpoint: Sendable, Hashable {
    /// The URL up to and including its query, without a fragment.
    private let base: String
    /// `?` when the URL has no query yet, else `&`: the endpoint's own query items are kept.
    private let separator: String

    init(_ url: String) throws(GPollClientError) {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty
        else { throw .invalidEndpoint(url) }
        var base = url
        if let hash = base.firstIndex(of: "#") { base = String(base[..<hash]) }
        if components.path.isEmpty, components.percentEncodedQuery == nil { base += "/" }
        if base.hasSuffix("?") || base.hasSuffix("&") {
            separator = ""
        } else {
            separator = components.percentEncodedQuery == nil ? "?" : "&"
        }
        self.base = base
    }

    /// The URL of a request.
    func url(for request: ClientStateMachine.Request) -> String {
        switch request {
        case .handshake:
            return base + separator + "client-id=0"  // CL-3
        case .poll(let id, let ack):
            let ackItem = ack.map { "&ack=\($0)" } ?? ""  // CL-22
            return base + separator + "client-id=" + Self.encodeQueryValue(Array(id.utf8)) + ackItem
        }
    }

    /// CL-6: every byte that is not an RFC 3986 unreserved character is `%HH`; CL-7:
    /// so is the id's `$` (`%24`, which every server decodes to the same byte).
    static func encodeQueryValue(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 3)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
