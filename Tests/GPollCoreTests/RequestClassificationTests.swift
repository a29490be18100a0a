import Testing
@testable import GPollCore

private let uuid = "0f5e8a2c-3b1d-4c7e-9a6b-2d4e6f8a0b1c"

@Suite("The client-id parameter and request classification (Spec sections 4, 5, 8)")
struct RequestClassificationTests {
    @Test("query parsing and form decoding", arguments: [
        ("/poll", ClientIDParameter.absent),
        ("/poll?", .absent),
        ("/poll?other=1", .absent),
        ("/poll?client-id", .value([])),
        ("/poll?client-id=", .value([])),
        ("/poll?client-id=0", .value(Array("0".utf8))),
        ("/poll?a=b&client-id=1%24x&client-id=2", .value(Array("1$x".utf8))),
        ("/poll?client%2Did=5", .value(Array("5".utf8))),
        ("/poll?client-id=a+b", .value(Array("a b".utf8))),
        ("/poll?client-id=%2b%2B", .value(Array("++".utf8))),
        ("/poll?client-id=%ff%00", .value([0xFF, 0x00])),
        ("/poll?client-id=1$x#frag", .value(Array("1$x".utf8))),
        ("/poll?x=%zz&client-id=3", .value(Array("3".utf8))),
        ("/poll?client-id=%zz", .invalidPercentEncoding),
        ("/poll?client-id=%2", .invalidPercentEncoding),
        ("/poll?client-id=abc%", .invalidPercentEncoding),
        ("/poll?&&client-id=7&", .value(Array("7".utf8))),
    ])
    func parameter(_ target: String, _ expected: ClientIDParameter) {
        #expect(ClientIDParameter.parse(requestTarget: Array(target.utf8)) == expected)
    }

    @Test("handshake: V absent or shorter than 10 bytes", arguments: [
        "/p", "/p?client-id=", "/p?client-id=0", "/p?client-id=123456789",
        "/p?client-id=%24%24%24%24%24%24%24%24%24", "/p?client-id=abcdefghi", "/p?client-id=0$0$0$0$0",
        "/p?client-id=%ff%ff%ff%ff%ff%ff%ff%ff%ff",
    ])
    func handshakes(_ target: String) {
        #expect(RequestClassification(requestTarget: Array(target.utf8)) == .handshake)
    }

    @Test("404 without '$' at 10 bytes and more", arguments: [
        "/p?client-id=0123456789", "/p?client-id=abcdefghijk",
        "/p?client-id=\(uuid)", "/p?client-id=%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff",
    ])
    func noDollar(_ target: String) {
        #expect(RequestClassification(requestTarget: Array(target.utf8)) == .notFound(.noDollar))
    }

    @Test("10 bytes or more with '$' but not canonical: 404 with the grammar reason", arguments: [
        ("/p?client-id=012345678$", ClientIDGrammarError.routineLeadingZero),
        ("/p?client-id=$123456789", .emptyRoutine),
        ("/p?client-id=1$23456789", .uuidWrongLength(8)),
        ("/p?client-id=x$\(uuid)", .nonDigitRoutine),
        ("/p?client-id=00$\(uuid)", .routineLeadingZero),
        ("/p?client-id=1$\(uuid.uppercased())", .uuidUppercase(offset: 1)),
        ("/p?client-id=1$\(uuid)$1", .secondDollar),
        ("/p?client-id=+1$\(uuid)", .nonDigitRoutine),
    ])
    func malformed(_ target: String, _ reason: ClientIDGrammarError) {
        #expect(RequestClassification(requestTarget: Array(target.utf8)) == .notFound(.malformed(reason)))
    }

    @Test("a canonical id, plain or percent-encoded, is a poll", arguments: [
        "/p?client-id=3$\(uuid)",
        "/p?client-id=3%24\(uuid)",
        "/p?client-id=%33%24%30f5e8a2c%2d3b1d-4c7e-9a6b-2d4e6f8a0b1c",
    ])
    func polls(_ target: String) throws {
        let expected = try ClientID.parse("3$\(uuid)").get()
        #expect(RequestClassification(requestTarget: Array(target.utf8)) == .poll(expected))
    }

    @Test("an invalid escape is a bad request, never a poll or a handshake")
    func invalidEscape() {
        #expect(RequestClassification(requestTarget: Array("/p?client-id=3%2G\(uuid)".utf8)) == .badRequest(.invalidPercentEncoding))
    }

    @Test("the boundary is exactly 10 bytes after decoding")
    func boundary() {
        #expect(RequestClassification(value: Array(repeating: UInt8(ascii: "a"), count: 9)) == .handshake)
        #expect(RequestClassification(value: Array(repeating: UInt8(ascii: "a"), count: 10)) == .notFound(.noDollar))
        #expect(RequestClassification(value: Array(repeating: UInt8(ascii: "a"), count: 11)) == .notFound(.noDollar))
        // %24 counts as one byte: nine decoded bytes are a handshake even though the text is longer.
        #expect(RequestClassification(requestTarget: Array("/p?client-id=%24%24%24%24%24%24%24%24%24".utf8)) == .handshake)
    }
}

@Suite("Handshake body (Spec section 5)")
struct HandshakeBodyTests {
    @Test("encodes the original's exact form")
    func encode() throws {
        let id = try ClientID.parse("12$\(uuid)").get()
        #expect(String(decoding: HandshakeBody.encode(id), as: UTF8.self) == #"{"client-id":"12$\#(uuid)"}"#)
        #expect(HandshakeBody.decode(HandshakeBody.encode(id)) == .success(id))
    }

    @Test("accepts any JSON object with the member", arguments: [
        #"{"client-id":"1$\#(uuid)"}"#,
        #" { "other" : [1, 2], "client-id" : "1$\#(uuid)" } "#,
        "{\n\t\"client-id\": \"1\\u0024\(uuid)\"\n}",
    ])
    func decodeTolerant(_ body: String) throws {
        #expect(HandshakeBody.decodeClientIDText(Array(body.utf8)) == .success("1$\(uuid)"))
    }

    @Test("says what is wrong with a bad body", arguments: [
        ("", HandshakeBodyError.notJSON),
        ("client-id=1", .notJSON),
        (#"["1$x"]"#, .notAnObject),
        (#"{"clientid":"1$x"}"#, .missingMember),
        (#"{"client-id":1}"#, .memberNotAString),
        (#"{"client-id":"1$\#(uuid.uppercased())"}"#, .invalidClientID(.uuidUppercase(offset: 1))),
        (#"{"client-id":"01$\#(uuid)"}"#, .invalidClientID(.routineLeadingZero)),
    ])
    func decodeErrors(_ body: String, _ expected: HandshakeBodyError) {
        #expect(HandshakeBody.decode(Array(body.utf8)) == .failure(expected))
    }
}
