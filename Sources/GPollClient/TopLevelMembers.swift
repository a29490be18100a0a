import Foundation

/// The names of a JSON object's own members, duplicates included, in order.
///
/// CL-4 wants exactly one member `client-id`; JSON parsers (Foundation's among them)
/// keep one of two equal names silently, so the client counts them itself. The body
/// has already been read as a JSON object by GPollCore's `HandshakeBody`, so this
/// scan only needs to follow strings and nesting, not to validate.
enum TopLevelMembers {
    static func names(in body: [UInt8]) -> [String] {
        var names: [String] = []
        var depth = 0
        var index = 0
        while index < body.count {
            let byte = body[index]
            switch byte {
            case UInt8(ascii: "\""):
                let end = endOfString(in: body, from: index)
                if depth == 1, isFollowedByColon(body, after: end) {
                    // The name with its escapes resolved, as the JSON string it is.
                    let quoted = Data(body[index...end])
                    if let name = try? JSONSerialization.jsonObject(with: quoted, options: .fragmentsAllowed) as? String {
                        names.append(name)
                    }
                }
                index = end + 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            default:
                break
            }
            index += 1
        }
        return names
    }

    /// The index of the closing quote of the string that opens at `start`.
    private static func endOfString(in body: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < body.count {
            switch body[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index
            default: index += 1
            }
        }
        return body.count - 1
    }

    private static func isFollowedByColon(_ body: [UInt8], after end: Int) -> Bool {
        var index = end + 1
        while index < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[index]) { index += 1 }
        return index < body.count && body[index] == UInt8(ascii: ":")
    }
}
