/// Text helpers for writing XML 1.0.
public enum XMLText {
    /// Replaces every character XML 1.0 forbids with a visible escape and
    /// leaves everything else unchanged.
    ///
    /// XML 1.0 allows tab, LF, CR, U+0020...U+D7FF, U+E000...U+FFFD and
    /// U+10000...U+10FFFF. Swift strings cannot hold surrogates, so the
    /// characters replaced are NUL and the other C0 controls (written as
    /// `\x00` ... `\x1F`, upper-case hex) and U+FFFE / U+FFFF (written as
    /// `\u{FFFE}` / `\u{FFFF}`). Backslashes already in the text are not
    /// escaped, so the mapping is for reading, not for reversing.
    public static func sanitize(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isForbidden) else { return s }
        var out = String.UnicodeScalarView()
        out.reserveCapacity(s.unicodeScalars.count + 16)
        for scalar in s.unicodeScalars {
            if !isForbidden(scalar) {
                out.append(scalar)
            } else if scalar.value < 0x20 {
                out.append(contentsOf: "\\x".unicodeScalars)
                out.append(contentsOf: hex(scalar.value, digits: 2).unicodeScalars)
            } else {
                out.append(contentsOf: "\\u{".unicodeScalars)
                out.append(contentsOf: hex(scalar.value, digits: 4).unicodeScalars)
                out.append("}")
            }
        }
        return String(out)
    }

    /// Whether XML 1.0 forbids `scalar` in a document.
    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: false
        case 0x00..<0x20: true
        case 0xFFFE, 0xFFFF: true
        default: false
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let s = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }
}
