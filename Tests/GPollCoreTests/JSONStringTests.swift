import Foundation
@testable import GPollCore
import Testing

@Suite("JSONString: the one JSON string escaper")
struct JSONStringTests {
    @Test("escapes quotes, backslashes, control characters and U+2028/U+2029")
    func escapes() {
        #expect(JSONString.quote(#"say "hi" \ bye"#) == #""say \"hi\" \\ bye""#)
        #expect(JSONString.quote("a\nb\rc\td") == #""a\nb\rc\td""#)
        #expect(JSONString.quote("\u{0}\u{1f}") == #""\u0000\u001f""#)
        #expect(JSONString.quote("\u{2028}\u{2029}") == #""\u2028\u2029""#)
        #expect(JSONString.quote("é 😀 \u{7f}") == "\"é 😀 \u{7f}\"")
    }

    @Test("what it writes parses back to the same text, for every scalar class")
    func roundTrips() throws {
        let samples = ["", "plain", "\u{0}\u{8}\u{b}\u{c}\u{1b}", "\"\\/", "\u{2028}x\u{2029}", "R$0f0e-…", String(repeating: "\n", count: 3)]
        for text in samples {
            let parsed = try JSONSerialization.jsonObject(with: Data(JSONString.quote(text).utf8), options: .fragmentsAllowed)
            #expect(parsed as? String == text, "\(text.debugDescription)")
        }
    }
}
