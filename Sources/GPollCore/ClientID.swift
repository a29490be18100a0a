/// A gpoll client id: `routine-id "$" uuid` (Spec section 6).
///
/// The routine id is the shard the server placed the client in; the uuid is the
/// client's secret. Only ids in canonical form exist as values: parsing is
/// strict, so a server built on this type answers 404 to every spelling it did
/// not issue (leading zeros, uppercase hex, a second `$`, trailing text).
public struct ClientID: Hashable, Sendable {
    /// Routine ids are decimal with at most nine digits (Spec ABNF), so they fit in 32 bits.
    public static let maximumRoutine: UInt32 = 999_999_999

    public let routine: UInt32
    public let uuid: UUIDv4

    public init(routine: UInt32, uuid: UUIDv4) {
        precondition(routine <= Self.maximumRoutine, "routine id \(routine) has more than nine digits")
        self.routine = routine
        self.uuid = uuid
    }

    /// The id as it goes on the wire, for example `0$0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a0b1c`.
    public var canonicalBytes: [UInt8] {
        Array(String(routine).utf8) + [UInt8(ascii: "$")] + uuid.canonicalBytes
    }

    /// Parses the canonical form and nothing else.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<ClientID, ClientIDGrammarError> {
        let bytes = Array(bytes)
        guard let dollar = bytes.firstIndex(of: UInt8(ascii: "$")) else { return .failure(.missingDollar) }
        let routineBytes = bytes[..<dollar]
        let uuidBytes = bytes[(dollar + 1)...]

        switch parseRoutine(routineBytes) {
        case .failure(let error): return .failure(error)
        case .success(let routine):
            switch parseUUID(uuidBytes) {
            case .failure(let error): return .failure(error)
            case .success(let uuid): return .success(ClientID(routine: routine, uuid: uuid))
            }
        }
    }

    public static func parse(_ text: String) -> Result<ClientID, ClientIDGrammarError> {
        parse(Array(text.utf8))
    }

    private static func parseRoutine(_ bytes: ArraySlice<UInt8>) -> Result<UInt32, ClientIDGrammarError> {
        guard let first = bytes.first else { return .failure(.emptyRoutine) }
        guard bytes.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return .failure(.nonDigitRoutine)
        }
        if first == UInt8(ascii: "0") && bytes.count > 1 { return .failure(.routineLeadingZero) }
        guard bytes.count <= 9 else { return .failure(.routineTooLong) }
        return .success(bytes.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) })
    }

    /// Positions of the four hyphens in `8-4-4-4-12`.
    private static let hyphenOffsets: Set<Int> = [8, 13, 18, 23]

    private static func parseUUID(_ bytes: ArraySlice<UInt8>) -> Result<UUIDv4, ClientIDGrammarError> {
        if bytes.contains(UInt8(ascii: "$")) { return .failure(.secondDollar) }
        guard bytes.count == 36 else { return .failure(.uuidWrongLength(bytes.count)) }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var nibbleCount = 0
        for (offset, byte) in bytes.enumerated() {
            if hyphenOffsets.contains(offset) {
                guard byte == UInt8(ascii: "-") else { return .failure(.uuidMisplacedHyphen(offset: offset)) }
                continue
            }
            guard let value = HexDigit.lowercaseValue(byte) else {
                if HexDigit.anyCaseValue(byte) != nil { return .failure(.uuidUppercase(offset: offset)) }
                return .failure(.uuidNotHex(offset: offset))
            }
            if nibbleCount < 16 { high = high << 4 | value } else { low = low << 4 | value }
            nibbleCount += 1
        }
        guard let uuid = UUIDv4(high: high, low: low) else {
            return (high >> 12) & 0xF != 4 ? .failure(.uuidWrongVersion) : .failure(.uuidWrongVariant)
        }
        return .success(uuid)
    }
}

extension ClientID: CustomStringConvertible {
    public var description: String { String(decoding: canonicalBytes, as: UTF8.self) }
}

/// Why a byte string is not a client id; each maps to a Spec rule so that logs
/// and the conformance tester can say which.
public enum ClientIDGrammarError: Error, Hashable, Sendable, CustomStringConvertible {
    case missingDollar
    case emptyRoutine
    case nonDigitRoutine
    case routineLeadingZero
    case routineTooLong
    case secondDollar
    case uuidWrongLength(Int)
    case uuidMisplacedHyphen(offset: Int)
    case uuidUppercase(offset: Int)
    case uuidNotHex(offset: Int)
    case uuidWrongVersion
    case uuidWrongVariant

    public var description: String {
        switch self {
        case .missingDollar: return "no '$' separates routine id and uuid"
        case .emptyRoutine: return "the routine id before '$' is empty"
        case .nonDigitRoutine: return "the routine id is not decimal digits"
        case .routineLeadingZero: return "the routine id has a leading zero"
        case .routineTooLong: return "the routine id has more than nine digits"
        case .secondDollar: return "a second '$' follows the first"
        case .uuidWrongLength(let count): return "the uuid has \(count) bytes, not 36"
        case .uuidMisplacedHyphen(let offset): return "the uuid lacks a '-' at offset \(offset)"
        case .uuidUppercase(let offset): return "the uuid has an uppercase hex digit at offset \(offset)"
        case .uuidNotHex(let offset): return "the uuid has a non-hex byte at offset \(offset)"
        case .uuidWrongVersion: return "the uuid's version nibble is not 4"
        case .uuidWrongVariant: return "the uuid's variant nibble is not 8, 9, a or b"
        }
    }
}
