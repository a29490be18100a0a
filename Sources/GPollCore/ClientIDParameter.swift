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
        guard let query = QueryItem.query(of: Array(requestTarget)) else { return .absent }
        return parse(query: query)
    }

    /// Reads the parameter from the query alone (without `?`).
    public static func parse(query: some Collection<UInt8>) -> ClientIDParameter {
        switch QueryItem.firstValue(named: name, in: query) {
        case nil: return .absent
        case .some(nil): return .invalidPercentEncoding
        case .some(let value?): return .value(value)
        }
    }
}

/// Query items of a request target, read as the gpoll parameters are (Spec section 4).
enum QueryItem {
    /// The query of a whole request target: after `?`, before any `#`; nil without `?`.
    static func query<Target: Collection<UInt8>>(of requestTarget: Target) -> Target.SubSequence? {
        guard let questionMark = requestTarget.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        let start = requestTarget.index(after: questionMark)
        let end = requestTarget[start...].firstIndex(of: UInt8(ascii: "#")) ?? requestTarget.endIndex
        return requestTarget[start..<end]
    }

    /// The decoded value of the first pair whose decoded name is `name`: nil if
    /// there is none, `.some(nil)` if that value has a malformed `%` escape.
    static func firstValue(named name: [UInt8], in query: some Collection<UInt8>) -> [UInt8]?? {
        for pair in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = pair[..<(equals ?? pair.endIndex)]
            if rawName.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
                // A pair whose name cannot be decoded cannot be the one sought; skip it as the original does.
                guard let decodedName = formDecode(rawName), decodedName == name else { continue }
            } else {
                // Nothing to decode (every poll's names): compare in place, allocating nothing.
                guard rawName.elementsEqual(name) else { continue }
            }
            let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...]
            return .some(formDecode(rawValue))
        }
        return nil
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

/// The `ack` query item of a poll (Spec section 18, acknowledged delivery):
/// 1 to 20 decimal digits after form decoding; `0` means nothing received yet.
public enum AckParameter: Hashable, Sendable {
    case absent
    /// Every message of the client with a sequence number up to this one is acknowledged.
    /// A 20-digit value above `UInt64.max` is read as `UInt64.max`: it is above any
    /// sequence a server can have delivered, and gets the same 400.
    case acknowledging(UInt64)
    /// Not 1 to 20 digits, or a malformed `%` escape: answer 400 (AK-6).
    case malformed

    private static let name: [UInt8] = Array("ack".utf8)
    static let maximumDigits = 20

    public static func parse(requestTarget: some Collection<UInt8>) -> AckParameter {
        guard let query = QueryItem.query(of: Array(requestTarget)) else { return .absent }
        return parse(query: query)
    }

    public static func parse(query: some Collection<UInt8>) -> AckParameter {
        switch QueryItem.firstValue(named: name, in: query) {
        case nil: return .absent
        case .some(nil): return .malformed
        case .some(let digits?): return parse(digits: digits)
        }
    }

    static func parse(digits: [UInt8]) -> AckParameter {
        guard (1...maximumDigits).contains(digits.count),
              digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return .malformed }
        var value: UInt64 = 0
        for digit in digits {
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = shifted.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            if overflowShift || overflowAdd { return .acknowledging(.max) }
            value = sum
        }
        return .acknowledging(value)
    }
}
