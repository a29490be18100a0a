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
        // Works on UTF-8 bytes (fast even for megabytes of transcript): the
        // forbidden characters are the single bytes 0x00...0x1F other than
        // tab, LF, CR (never part of a multi-byte sequence), and U+FFFE /
        // U+FFFF, encoded EF BF BE / EF BF BF.
        var copy = s
        let escaped: [UInt8]? = copy.withUTF8 { bytes in
            guard let first = firstForbidden(bytes) else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + 64)
            out.append(contentsOf: bytes[..<first])
            var i = first
            while i < bytes.count {
                let length = forbiddenLength(bytes, at: i)
                if length == 1 {
                    out.append(contentsOf: [0x5C, 0x78]) // "\x"
                    appendHex(UInt32(bytes[i]), digits: 2, to: &out)
                } else if length == 3 {
                    out.append(contentsOf: [0x5C, 0x75, 0x7B]) // "\u{"
                    appendHex(bytes[i + 2] == 0xBE ? 0xFFFE : 0xFFFF, digits: 4, to: &out)
                    out.append(0x7D) // "}"
                } else {
                    out.append(bytes[i])
                    i += 1
                    continue
                }
                i += length
            }
            return out
        }
        return escaped.map { String(decoding: $0, as: UTF8.self) } ?? s
    }

    /// The index of the first forbidden character in UTF-8 `bytes`, if any.
    private static func firstForbidden(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if (b < 0x20 || b == 0xEF) && forbiddenLength(bytes, at: i) > 0 { return i }
            i += 1
        }
        return nil
    }

    /// 1 or 3 if a forbidden character's encoding starts at `i`, else 0.
    @inline(__always)
    private static func forbiddenLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let b = bytes[i]
        if b < 0x20 { return b == 0x09 || b == 0x0A || b == 0x0D ? 0 : 1 }
        if b == 0xEF, i + 2 < bytes.count, bytes[i + 1] == 0xBF, bytes[i + 2] == 0xBE || bytes[i + 2] == 0xBF {
            return 3
        }
        return 0
    }

    private static func appendHex(_ value: UInt32, digits: Int, to out: inout [UInt8]) {
        let hexDigits: StaticString = "0123456789ABCDEF"
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            out.append(hexDigits.utf8Start[Int((value >> UInt32(shift)) & 0xF)])
        }
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
}
