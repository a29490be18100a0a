/// The `client-id` query parameter of a request target (Spec section 4).
///
/// The query is split on `&`; names and values are decoded as
/// application/x-www-form-urlencoded (`+` is a space, `%HH` the byte HH) and the
/// first pair whose decoded name is `client-id` is the one that counts. The value
/// is bytes: gpoll does not require UTF-8.
public enum ClientIDParameter: Hashable, Sendable {
    case absent
    case value([UInt8])
    /// The `client-id` value holds a `%` not followed by two hex digits. It must
    /// not be read as a poll; the reference answers 400.
    case invalidPercentEncoding

    private static let name: [UInt8] = Array("client-id".utf8)

    /// Reads the parameter from a whole request target such as `/poll?client-id=0`.
    public static func parse(requestTarget: some Collection<UInt8>) -> ClientIDParameter {
        let target = Array(requestTarget)
        guard let questionMark = target.firstIndex(of: UInt8(ascii: "?")) else { return .absent }
        let end = target[questionMark...].firstIndex(of: UInt8(ascii: "#")) ?? target.endIndex
        return parse(query: target[(questionMark + 1)..<end])
    }

    /// Reads the parameter from the query alone (without `?`).
    public static func parse(query: some Collection<UInt8>) -> ClientIDParameter {
        for pair in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = pair[..<(equals ?? pair.endIndex)]
            // A pair whose name cannot be decoded cannot be `client-id`; skip it as the original does.
            guard let decodedName = formDecode(rawName), decodedName == name else { continue }
            let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...]
            guard let value = formDecode(rawValue) else { return .invalidPercentEncoding }
            return .value(value)
        }
        return .absent
    }

    /// application/x-www-form-urlencoded decoding; nil on a malformed `%` escape.
    static func formDecode(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                out.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(HexDigit.anyCaseValue),
                      let low = iterator.next().flatMap(HexDigit.anyCaseValue)
                else { return nil }
                out.append(high << 4 | low)
            default:
                out.append(byte)
            }
        }
        return out
    }
}
