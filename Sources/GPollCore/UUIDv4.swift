/// A version-4 (random) UUID as RFC 4122 defines it, held as two words so that
/// hashing and comparing a client's key costs two integer operations.
///
/// gpoll writes it in the canonical lowercase 8-4-4-4-12 form; parsing accepts
/// nothing else (see ``ClientID/parse(_:)``), because a server must answer 404 to
/// every spelling it never issued.
public struct UUIDv4: Hashable, Sendable {
    public let high: UInt64
    public let low: UInt64

    /// Builds a UUID from 128 random bits, forcing the version nibble to 4 and the
    /// variant bits to `10` as RFC 4122 section 4.4 requires, which leaves 122 random bits.
    @inlinable
    public init(randomHigh: UInt64, randomLow: UInt64) {
        self.high = (randomHigh & ~0x0000_0000_0000_F000) | 0x0000_0000_0000_4000
        self.low = (randomLow & ~0xC000_0000_0000_0000) | 0x8000_0000_0000_0000
    }

    /// Wraps two words that already carry a valid version and variant.
    /// Returns nil if they do not, so no ``UUIDv4`` value can break the grammar.
    public init?(high: UInt64, low: UInt64) {
        guard (high >> 12) & 0xF == 4, low >> 62 == 0b10 else { return nil }
        self.high = high
        self.low = low
    }

    /// The canonical text: 36 lowercase characters, `xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx`.
    public var canonicalBytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(36)
        func hex(_ word: UInt64, nibbles: ClosedRange<Int>) {
            for index in nibbles.reversed() {
                out.append(HexDigit.lowercase[Int((word >> (UInt64(index) * 4)) & 0xF)])
            }
        }
        hex(high, nibbles: 8...15)
        out.append(UInt8(ascii: "-"))
        hex(high, nibbles: 4...7)
        out.append(UInt8(ascii: "-"))
        hex(high, nibbles: 0...3)
        out.append(UInt8(ascii: "-"))
        hex(low, nibbles: 12...15)
        out.append(UInt8(ascii: "-"))
        hex(low, nibbles: 0...11)
        return out
    }
}

extension UUIDv4: CustomStringConvertible {
    public var description: String { String(decoding: canonicalBytes, as: UTF8.self) }
}

enum HexDigit {
    static let lowercase: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of a lowercase hex digit; uppercase is rejected on purpose.
    static func lowercaseValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(byte - UInt8(ascii: "a") + 10)
        default: return nil
        }
    }

    /// The value of a hex digit of either case, as percent-decoding allows.
    static func anyCaseValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
