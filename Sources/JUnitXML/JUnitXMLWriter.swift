import CLibXML2
import Foundation

/// Writes a ``JUnitReport`` as JUnit XML through libxml2's text writer.
///
/// The output is UTF-8 with an XML declaration, indented by two spaces, and
/// validates against both the Ant JUnit schema and the Jenkins xUnit
/// `junit-10.xsd`:
///
/// ```xml
/// <testsuites>
///   <testsuite name="..." package="..." id="0" timestamp="2025-01-02T03:04:05"
///              hostname="..." tests="3" failures="1" errors="0" skipped="1" time="0.250">
///     <properties><property name="target" value="http://..."/></properties>
///     <testcase name="..." classname="gpoll.handshake" time="0.125">
///       <failure message="..." type="...">details</failure>
///     </testcase>
///     <system-out>...</system-out>
///     <system-err></system-err>
///   </testsuite>
/// </testsuites>
/// ```
///
/// Every name, attribute value and text is passed through
/// ``XMLText/sanitize(_:)`` first, because the text writer neither rejects
/// characters XML 1.0 forbids nor survives embedded NULs. Safe to call
/// concurrently.
public enum JUnitXMLWriter {
    /// Renders `report` as UTF-8 encoded JUnit XML.
    /// - Throws: ``JUnitXMLError/libxml2(function:code:)`` if any libxml2
    ///   call fails.
    public static func render(_ report: JUnitReport) throws -> [UInt8] {
        ensureLibXML2Initialised()
        guard let buffer = xmlBufferCreate() else {
            throw JUnitXMLError.libxml2(function: "xmlBufferCreate", code: -1)
        }
        defer { xmlBufferFree(buffer) }
        // libxml2 2.9 defaults to exact-size growth, quadratic for big reports.
        xmlBufferSetAllocationScheme(buffer, XML_BUFFER_ALLOC_DOUBLEIT)
        guard let raw = xmlNewTextWriterMemory(buffer, 0) else {
            throw JUnitXMLError.libxml2(function: "xmlNewTextWriterMemory", code: -1)
        }
        let writer = TextWriter(raw)
        defer { xmlFreeTextWriter(raw) }

        try writer.check("xmlTextWriterSetIndent", xmlTextWriterSetIndent(raw, 1))
        try writer.check("xmlTextWriterSetIndentString", "  ".withXMLChars { xmlTextWriterSetIndentString(raw, $0) })
        try writer.check("xmlTextWriterStartDocument", xmlTextWriterStartDocument(raw, nil, "UTF-8", nil))
        try writer.startElement("testsuites")
        for (index, suite) in report.suites.enumerated() {
            try writeSuite(suite, id: index, to: writer)
        }
        try writer.endElement()
        try writer.check("xmlTextWriterEndDocument", xmlTextWriterEndDocument(raw))
        try writer.check("xmlTextWriterFlush", xmlTextWriterFlush(raw))

        let length = Int(xmlBufferLength(buffer))
        guard length > 0, let content = xmlBufferContent(buffer) else {
            throw JUnitXMLError.libxml2(function: "xmlBufferContent", code: -1)
        }
        return Array(UnsafeBufferPointer(start: content, count: length))
    }

    /// Renders `report` and writes it to the file at `path` atomically,
    /// replacing any existing file.
    /// - Throws: ``JUnitXMLError/libxml2(function:code:)`` if rendering
    ///   fails, ``JUnitXMLError/fileWrite(path:reason:)`` if writing fails.
    public static func write(_ report: JUnitReport, toFile path: String) throws {
        let bytes = try render(report)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw JUnitXMLError.fileWrite(path: path, reason: String(describing: error))
        }
    }

    private static func writeSuite(_ suite: JUnitTestSuite, id: Int, to w: TextWriter) throws {
        try w.startElement("testsuite")
        try w.attribute("name", nonBlank(suite.name, or: "(unnamed)"))
        try w.attribute("package", suite.package)
        try w.attribute("id", String(id))
        try w.attribute("timestamp", JUnitFormat.timestamp(suite.timestamp))
        try w.attribute("hostname", nonBlank(suite.hostname, or: "localhost"))
        try w.attribute("tests", String(suite.tests))
        try w.attribute("failures", String(suite.failures))
        try w.attribute("errors", String(suite.errors))
        try w.attribute("skipped", String(suite.skipped))
        try w.attribute("time", JUnitFormat.seconds(suite.time))

        try w.startElement("properties")
        for property in suite.properties {
            try w.startElement("property")
            try w.attribute("name", nonBlank(property.name, or: "(unnamed)"))
            try w.attribute("value", property.value)
            try w.endElement()
        }
        try w.endElement()

        for testCase in suite.cases {
            try writeCase(testCase, to: w)
        }

        try w.textElement("system-out", suite.systemOut)
        try w.textElement("system-err", suite.systemErr)
        try w.endElement()
    }

    private static func writeCase(_ testCase: JUnitTestCase, to w: TextWriter) throws {
        try w.startElement("testcase")
        try w.attribute("name", testCase.name)
        try w.attribute("classname", testCase.classname)
        try w.attribute("time", JUnitFormat.seconds(testCase.time))
        switch testCase.outcome {
        case .passed:
            break
        case let .failure(message, type, details):
            try w.startElement("failure")
            try w.attribute("message", message)
            try w.attribute("type", type)
            try w.text(details)
            try w.endElement()
        case let .error(message, type, details):
            try w.startElement("error")
            try w.attribute("message", message)
            try w.attribute("type", type)
            try w.text(details)
            try w.endElement()
        case let .skipped(message):
            try w.startElement("skipped")
            try w.attribute("message", message)
            try w.endElement()
        }
        // After the outcome: xunitparser starts a new case object at <failure>, and
        // would drop output read before it.
        if !testCase.systemOut.isEmpty { try w.textElement("system-out", testCase.systemOut) }
        try w.endElement()
    }

    /// `value`, or `fallback` if `value` is empty or only XML white space
    /// (the Ant schema wants a non-empty token for some attributes).
    private static func nonBlank(_ value: String, or fallback: String) -> String {
        let blank = value.unicodeScalars.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return blank ? fallback : value
    }
}

/// A thin checked wrapper around an `xmlTextWriterPtr`; every string goes
/// through ``XMLText/sanitize(_:)`` and every return code is checked.
private struct TextWriter {
    let raw: xmlTextWriterPtr

    init(_ raw: xmlTextWriterPtr) { self.raw = raw }

    func check(_ function: String, _ rc: Int32) throws {
        if rc < 0 { throw JUnitXMLError.libxml2(function: function, code: rc) }
    }

    func startElement(_ name: String) throws {
        try check("xmlTextWriterStartElement", XMLText.sanitize(name).withXMLChars { xmlTextWriterStartElement(raw, $0) })
    }

    func endElement() throws {
        try check("xmlTextWriterEndElement", xmlTextWriterEndElement(raw))
    }

    func attribute(_ name: String, _ value: String) throws {
        let rc = XMLText.sanitize(name).withXMLChars { n in
            XMLText.sanitize(value).withXMLChars { v in xmlTextWriterWriteAttribute(raw, n, v) }
        }
        try check("xmlTextWriterWriteAttribute", rc)
    }

    func text(_ content: String) throws {
        guard !content.isEmpty else { return }
        try check("xmlTextWriterWriteString", XMLText.sanitize(content).withXMLChars { xmlTextWriterWriteString(raw, $0) })
    }

    /// `<name>content</name>`, written as `<name></name>` when empty.
    func textElement(_ name: String, _ content: String) throws {
        try startElement(name)
        try text(content)
        try check("xmlTextWriterFullEndElement", xmlTextWriterFullEndElement(raw))
    }
}

extension String {
    /// Calls `body` with the string as a NUL-terminated UTF-8 `xmlChar` array.
    /// (An embedded NUL would end the C string early: sanitise first.)
    func withXMLChars<R>(_ body: (UnsafePointer<xmlChar>) throws -> R) rethrows -> R {
        try withCString { cString in
            try cString.withMemoryRebound(to: xmlChar.self, capacity: utf8.count + 1, body)
        }
    }
}
