import CLibXML2
import Foundation
import JUnitXML
import Testing

/// The schemas copied next to the tests (see Schemas/README.md).
enum Schemas {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Schemas")
    static let ant = directory.appendingPathComponent("ant-junit.xsd").path
    static let jenkins = directory.appendingPathComponent("jenkins-junit-10.xsd").path
    static let all = [ant, jenkins]
}

/// Renders `report` and expects it to validate against both schemas.
@discardableResult
func expectValid(_ report: JUnitReport, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    let xml = try JUnitXMLWriter.render(report)
    for schema in Schemas.all {
        let errors = try JUnitSchemaValidator.validate(xml: xml, schemaPath: schema)
        #expect(errors == [], "\(URL(fileURLWithPath: schema).lastPathComponent): \(errors.prefix(5))", sourceLocation: sourceLocation)
    }
    return xml
}

/// Validation errors of a hand-written document against one schema.
func errors(_ xml: String, _ schema: String) throws -> [String] {
    try JUnitSchemaValidator.validate(xml: Array(xml.utf8), schemaPath: schema)
}

/// Characters and strings that must not break the report.
enum Hostile {
    static let controls = ["\u{0}", "\u{1}", "\u{8}", "\u{B}", "\u{C}", "\u{1F}", "\u{FFFE}", "\u{FFFF}"]
    static let markup = ["]]>", "<&>\"'", "<![CDATA[x]]>", "&amp;", "<!-- -->", "<?pi?>"]
    static let friendly = ["🧪👩‍💻🇩🇪", "\u{FFFD}", "\u{10FFFF}", "\u{7F}\u{85}\u{9F}", "tab\there", "cr\rlf\ncrlf\r\n", "  spaced  "]
    static let all = controls + markup + friendly
    /// Every hostile string joined, once.
    static let mixed = all.joined(separator: "|")
    /// Raw wire text as gpoll-conform would record it.
    static let transcript = """
        GET /poll?client=\u{0}abc HTTP/1.1\r\nHost: example.test\r\nX-Bad: \u{1}\u{8}\u{B}\u{C}\u{1F}\u{FFFE}\u{FFFF}\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n]]><&>"' \u{FFFD}\u{FFFD} 🧪\u{0}\u{0}
        """
    static let long = String(repeating: transcript + "\n", count: 3_000) // ~0.5 MB
}

/// A minimal DOM read back from rendered XML with libxml2.
struct Element: Equatable {
    var name: String
    var attributes: [String: String]
    var children: [Element]
    /// The concatenated text and CDATA children.
    var text: String

    func all(_ name: String) -> [Element] { children.filter { $0.name == name } }
    func first(_ name: String) -> Element? { children.first { $0.name == name } }
}

private let testLibXML2Initialised: Bool = { xmlInitParser(); return true }()

/// Parses `xml` with libxml2 (no network, no size limits); nil if not well-formed.
func parse(_ xml: [UInt8]) -> Element? {
    _ = testLibXML2Initialised
    let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_HUGE.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
    let doc = xml.withUnsafeBufferPointer { b in
        b.withMemoryRebound(to: CChar.self) { xmlReadMemory($0.baseAddress, Int32($0.count), "test.xml", nil, options) }
    }
    guard let doc else { return nil }
    defer { xmlFreeDoc(doc) }
    guard let root = xmlDocGetRootElement(doc) else { return nil }
    return element(root)
}

private func string(_ p: UnsafePointer<xmlChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

private func element(_ node: xmlNodePtr) -> Element {
    var attributes: [String: String] = [:]
    var attr = node.pointee.properties
    while let a = attr {
        var value = ""
        var child = a.pointee.children
        while let c = child { value += string(c.pointee.content); child = c.pointee.next }
        attributes[string(a.pointee.name)] = value
        attr = a.pointee.next
    }
    var children: [Element] = []
    var text = ""
    var child = node.pointee.children
    while let c = child {
        switch c.pointee.type {
        case XML_ELEMENT_NODE: children.append(element(c))
        case XML_TEXT_NODE, XML_CDATA_SECTION_NODE: text += string(c.pointee.content)
        default: break
        }
        child = c.pointee.next
    }
    return Element(name: string(node.pointee.name), attributes: attributes, children: children, text: text)
}

/// A conformance-style suite with every outcome kind.
func sampleSuite(name: String = "handshake", cases extra: [JUnitTestCase] = []) -> JUnitTestSuite {
    JUnitTestSuite(
        name: name,
        package: "gpoll",
        timestamp: Date(timeIntervalSince1970: 1_700_000_000.75),
        hostname: "ci-runner-7",
        properties: [
            JUnitProperty(name: "target", value: "http://127.0.0.1:8080/poll"),
            JUnitProperty(name: "options", value: "--timeout 5 --strict"),
            JUnitProperty(name: "suite.version", value: "0.3.0"),
            JUnitProperty(name: "spec.version", value: "1.0-draft"),
        ],
        cases: [
            JUnitTestCase(name: "HS-1 Server answers a handshake", classname: "gpoll.\(name)", time: 0.012),
            JUnitTestCase(name: "HS-2 Rejects a bad version", classname: "gpoll.\(name)", time: 0.25,
                          outcome: .failure(message: "expected 400, got 200", type: "StatusMismatch", details: "GET / HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\n")),
            JUnitTestCase(name: "HS-3 Survives a reset", classname: "gpoll.\(name)", time: 1.5,
                          outcome: .error(message: "connection reset", type: "TransportError", details: "ECONNRESET after 12 bytes")),
            JUnitTestCase(name: "HS-4 Optional compression", classname: "gpoll.\(name)", time: 0,
                          outcome: .skipped(message: "server does not advertise gzip")),
        ] + extra,
        systemOut: "transcript of \(name)\n",
        systemErr: ""
    )
}
