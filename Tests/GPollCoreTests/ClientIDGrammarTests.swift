import Testing
@testable import GPollCore

private let validUUID = "0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a0b1c"

@Suite("Client-id grammar (Spec section 6)")
struct ClientIDGrammarTests {
    @Test("canonical ids parse and print back byte for byte", arguments: [
        "0$\(validUUID)",
        "1$\(validUUID)",
        "42$\(validUUID)",
        "999999999$\(validUUID)",
        "7$00000000-0000-4000-8000-000000000000",
        "7$ffffffff-ffff-4fff-bfff-ffffffffffff",
        "7$12345678-9abc-4def-9123-456789abcdef",
        "7$12345678-9abc-4def-a123-456789abcdef",
    ])
    func roundTrip(_ text: String) throws {
        let id = try ClientID.parse(text).get()
        #expect(id.description == text)
        #expect(id.canonicalBytes == Array(text.utf8))
    }

    @Test("every non-canonical spelling is refused, with the reason", arguments: [
        ("\(validUUID)", ClientIDGrammarError.missingDollar),
        ("$\(validUUID)", .emptyRoutine),
        ("00$\(validUUID)", .routineLeadingZero),
        ("01$\(validUUID)", .routineLeadingZero),
        ("x$\(validUUID)", .nonDigitRoutine),
        ("+1$\(validUUID)", .nonDigitRoutine),
        ("-1$\(validUUID)", .nonDigitRoutine),
        (" 1$\(validUUID)", .nonDigitRoutine),
        ("1 $\(validUUID)", .nonDigitRoutine),
        ("1234567890$\(validUUID)", .routineTooLong),
        ("1$\(validUUID)$", .secondDollar),
        ("1$\(validUUID)$extra", .secondDollar),
        ("1$$\(validUUID)", .secondDollar),
        ("1$", .uuidWrongLength(0)),
        ("1$\(validUUID)0", .uuidWrongLength(37)),
        ("1$\(validUUID.dropLast())", .uuidWrongLength(35)),
        ("1$0f5e8a2c3b1d4c7e9a6b2d4e6f8a0b1c", .uuidWrongLength(32)),
        ("1${0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a0b}", .uuidNotHex(offset: 0)),
        ("1$0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a0b1C", .uuidUppercase(offset: 35)),
        ("1$0F5E8A2C-3B1D-4C7E-9A6B-2D4E6F8A0B1C", .uuidUppercase(offset: 1)),
        ("1$0f5e8a2c_3b1d-4c7e-9a6b-2d4e6f8a0b1c", .uuidMisplacedHyphen(offset: 8)),
        ("1$0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a-b1c", .uuidNotHex(offset: 32)),
        ("1$0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a0b1g", .uuidNotHex(offset: 35)),
        ("1$0f5e8a2c-3b1d-1c7e-9a6b-2d4e6f8a0b1c", .uuidWrongVersion),
        ("1$0f5e8a2c-3b1d-5c7e-9a6b-2d4e6f8a0b1c", .uuidWrongVersion),
        ("1$0f5e8a2c-3b1d-4c7e-7a6b-2d4e6f8a0b1c", .uuidWrongVariant),
        ("1$0f5e8a2c-3b1d-4c7e-ca6b-2d4e6f8a0b1c", .uuidWrongVariant),
        ("1$0f5e8a2c-3b1d-4c7e-0a6b-2d4e6f8a0b1c", .uuidWrongVariant),
    ])
    func refused(_ text: String, _ expected: ClientIDGrammarError) {
        #expect(ClientID.parse(text) == .failure(expected))
    }

    @Test("non-UTF-8 bytes are refused, not crashed on")
    func nonUTF8() {
        var bytes = Array("1$".utf8) + Array(validUUID.utf8)
        bytes[5] = 0xFF
        #expect(ClientID.parse(bytes) == .failure(.uuidNotHex(offset: 3)))
        #expect(ClientID.parse([0xFF, 0xFE, 0x24] + Array(validUUID.utf8)) == .failure(.nonDigitRoutine))
    }

    @Test("generated uuids carry version 4 and the RFC 4122 variant, and parse back")
    func generatedUUIDs() throws {
        var source = SecureUUIDSource()
        var seen = Set<UUIDv4>()
        for routine in 0..<2_000 {
            let uuid = source.nextUUID()
            let text = uuid.description
            #expect(Array(text.utf8)[14] == UInt8(ascii: "4"))
            #expect("89ab".utf8.contains(Array(text.utf8)[19]))
            let id = ClientID(routine: UInt32(routine), uuid: uuid)
            #expect(try ClientID.parse(id.description).get() == id)
            seen.insert(uuid)
        }
        #expect(seen.count == 2_000)
    }

    @Test("UUIDv4 refuses words without version 4 or variant 10")
    func uuidValidation() {
        #expect(UUIDv4(high: 0x0000_0000_0000_4000, low: 0x8000_0000_0000_0000) != nil)
        #expect(UUIDv4(high: 0x0000_0000_0000_1000, low: 0x8000_0000_0000_0000) == nil)
        #expect(UUIDv4(high: 0x0000_0000_0000_4000, low: 0xC000_0000_0000_0000) == nil)
        let forced = UUIDv4(randomHigh: .max, randomLow: .max)
        #expect(forced.description == "ffffffff-ffff-4fff-bfff-ffffffffffff")
    }
}
