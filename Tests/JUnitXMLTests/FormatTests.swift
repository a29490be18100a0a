import Foundation
import JUnitXML
import Testing

@Suite struct SanitizeTests {
    @Test func forbiddenCharactersAreEscaped() {
        #expect(XMLText.sanitize("\u{0}") == "\\x00")
        #expect(XMLText.sanitize("a\u{1}b\u{8}c\u{B}d\u{C}e\u{1F}") == "a\\x01b\\x08c\\x0Bd\\x0Ce\\x1F")
        #expect(XMLText.sanitize("\u{FFFE}\u{FFFF}") == "\\u{FFFE}\\u{FFFF}")
        #expect(XMLText.sanitize("x\u{0}\u{0}y") == "x\\x00\\x00y")
    }

    @Test(arguments: ["", "plain", "\t\n\r", "\r\n", "]]><&>\"'", "🧪👩‍💻🇩🇪", "\u{7F}\u{85}\u{9F}", "\u{D7FF}\u{E000}\u{FFFD}",
                      "\u{10000}\u{1FFFE}\u{10FFFF}", "back\\slash \\x00 literal", "é (e\u{301})"])
    func allowedTextIsUnchanged(_ s: String) {
        #expect(XMLText.sanitize(s) == s)
        #expect(XMLText.sanitize(s).unicodeScalars.elementsEqual(s.unicodeScalars))
    }

    @Test func everyScalarBelowSpaceExceptTabLFCRIsEscaped() {
        for v in UInt32(0)..<0x20 {
            let s = String(Unicode.Scalar(v)!)
            let out = XMLText.sanitize(s)
            if v == 9 || v == 10 || v == 13 {
                #expect(out == s)
            } else {
                #expect(out.count == 4 && out.hasPrefix("\\x"))
                #expect(!out.unicodeScalars.contains(where: XMLText.isForbidden))
            }
        }
    }

    @Test func combiningMarkAfterControlIsKept() {
        // "\u{1}\u{301}" is one Character; the escape must keep the mark.
        #expect(XMLText.sanitize("\u{1}\u{301}").unicodeScalars.map(\.value) == [0x5C, 0x78, 0x30, 0x31, 0x301])
    }
}

@Suite struct FormatTests {
    @Test(arguments: [
        (0.0, "0.000"), (1.5, "1.500"), (0.012, "0.012"), (0.0004, "0.000"), (0.0006, "0.001"),
        (0.9999, "1.000"), (59.99951, "60.000"), (59.9994, "59.999"), (123_456.789, "123456.789"), (1e-300, "0.000"),
        (1e9, "1000000000.000"), (86_400.25, "86400.250"),
        (-1.0, "0.000"), (-0.0, "0.000"), (Double.nan, "0.000"), (-Double.infinity, "0.000"),
        (Double.infinity, "999999999999999.000"), (1e300, "999999999999999.000"),
    ])
    func seconds(_ value: Double, _ expected: String) {
        #expect(JUnitFormat.seconds(value) == expected)
    }

    @Test func secondsNeverHaveExponentCommaOrSign() {
        var value = 1e-12
        while value < 1e20 {
            let s = JUnitFormat.seconds(value)
            #expect(s.wholeMatch(of: /[0-9]+\.[0-9]{3}/) != nil, "\(value) -> \(s)")
            value *= 3.7
        }
    }

    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00"), (1_700_000_000.999, "2023-11-14T22:13:20"), (-1.0, "1969-12-31T23:59:59"),
        (-0.5, "1969-12-31T23:59:59"), (951_782_400, "2000-02-29T00:00:00"), (4_102_444_800, "2100-01-01T00:00:00"),
        (-62_135_596_800, "0001-01-01T00:00:00"), (-1e15, "0001-01-01T00:00:00"),
        (253_402_300_799, "9999-12-31T23:59:59"), (1e15, "9999-12-31T23:59:59"), (Double.nan, "1970-01-01T00:00:00"),
    ])
    func timestamp(_ seconds: Double, _ expected: String) {
        #expect(JUnitFormat.timestamp(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test func timestampAgreesWithFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        // Whole seconds: the formatter rounds fractions, JUnitFormat truncates them.
        var t = -5_000_000_000.0
        while t < 10_000_000_000 {
            let expected = String(formatter.string(from: Date(timeIntervalSince1970: t)).dropLast()) // drop "Z"
            #expect(JUnitFormat.timestamp(Date(timeIntervalSince1970: t)) == expected)
            t += 987_654_321
        }
    }
}
