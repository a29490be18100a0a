/// JSON string literals (RFC 8259, section 7) for the JSON the kit writes by hand:
/// handshake bodies, the `gpoll listen --json` line protocol, JSON log lines. One
/// escaper, so that all three agree on what a string becomes.
package enum JSONString {
    /// `text` as a JSON string: quotes, backslashes and control characters escaped
    /// (`\n`, `\r`, `\t` by name, the others as `\u00XX`), and U+2028 and U+2029 as
    /// well, which JSON allows raw but older JavaScript parsers take for line ends.
    package static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
