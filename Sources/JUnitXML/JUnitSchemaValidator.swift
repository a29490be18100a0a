import CLibXML2
import Foundation

/// Validates XML documents against an XML Schema (XSD) with libxml2, e.g. a
/// rendered JUnit report against `ant-junit.xsd` or `jenkins-junit-10.xsd`.
///
/// Safe to call concurrently: each call uses its own libxml2 contexts and
/// collects messages into its own sink, with no global mutable state.
public enum JUnitSchemaValidator {
    /// Validates `xml` against the schema in the file at `schemaPath`.
    ///
    /// - Returns: the validation error messages, each as
    ///   `"line N: message"`; empty if the document is valid. A document that
    ///   is not well-formed XML is invalid: its parse errors are returned.
    /// - Throws: ``JUnitXMLError/schemaUnusable(path:messages:)`` if the schema
    ///   cannot be read or parsed, ``JUnitXMLError/libxml2(function:code:)`` if
    ///   libxml2 fails otherwise (e.g. out of memory).
    public static func validate(xml: [UInt8], schemaPath: String) throws -> [String] {
        ensureLibXML2Initialised()
        let sink = MessageSink()
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()

        // The schema. Checked first: libxml2 would print an I/O warning to
        // stderr for a missing file, outside the structured error handler.
        guard FileManager.default.isReadableFile(atPath: schemaPath) else {
            throw JUnitXMLError.schemaUnusable(path: schemaPath, messages: ["file not found or not readable"])
        }
        guard let parserContext = xmlSchemaNewParserCtxt(schemaPath) else {
            throw JUnitXMLError.schemaUnusable(path: schemaPath, messages: ["cannot create schema parser context"])
        }
        defer { xmlSchemaFreeParserCtxt(parserContext) }
        xmlSchemaSetParserStructuredErrors(parserContext, collectError, sinkPointer)
        guard let schema = xmlSchemaParse(parserContext) else {
            throw JUnitXMLError.schemaUnusable(path: schemaPath, messages: sink.messages)
        }
        defer { xmlSchemaFree(schema) }
        sink.messages.removeAll()

        // The document: parsed with a private context whose structured error
        // handler reaches the sink through `_private` (the SAX handlers need
        // `userData` to stay the context itself).
        guard let documentContext = xmlNewParserCtxt() else {
            throw JUnitXMLError.libxml2(function: "xmlNewParserCtxt", code: -1)
        }
        defer { xmlFreeParserCtxt(documentContext) }
        documentContext.pointee._private = sinkPointer
        documentContext.pointee.sax.pointee.serror = collectParserError
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_HUGE.rawValue
            | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let document = xml.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                xmlCtxtReadMemory(documentContext, chars.baseAddress, Int32(chars.count), "report.xml", nil, options)
            }
        }
        guard let document else {
            return sink.messages.isEmpty ? ["document is not well-formed XML"] : sink.messages
        }
        defer { xmlFreeDoc(document) }
        if documentContext.pointee.wellFormed == 0 {
            return sink.messages.isEmpty ? ["document is not well-formed XML"] : sink.messages
        }
        sink.messages.removeAll()

        // Validation.
        guard let validContext = xmlSchemaNewValidCtxt(schema) else {
            throw JUnitXMLError.libxml2(function: "xmlSchemaNewValidCtxt", code: -1)
        }
        defer { xmlSchemaFreeValidCtxt(validContext) }
        xmlSchemaSetValidStructuredErrors(validContext, collectError, sinkPointer)
        let rc = xmlSchemaValidateDoc(validContext, document)
        if rc < 0 {
            throw JUnitXMLError.libxml2(function: "xmlSchemaValidateDoc", code: rc)
        }
        if rc > 0 && sink.messages.isEmpty {
            return ["document is not valid (libxml2 code \(rc))"]
        }
        return sink.messages
    }
}

/// Collects libxml2 error messages for one validation call. Only touched on
/// the calling thread, synchronously, while libxml2 runs.
private final class MessageSink {
    var messages: [String] = []

    func append(_ error: xmlErrorPtr?) {
        guard let error else { return }
        var text = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        while text.last?.isNewline == true { text.removeLast() }
        let line = error.pointee.line
        messages.append(line > 0 ? "line \(line): \(text)" : text)
    }
}

/// Structured error handler whose user data is the sink itself.
private func collectError(_ userData: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let userData else { return }
    Unmanaged<MessageSink>.fromOpaque(userData).takeUnretainedValue().append(error)
}

/// Structured error handler for document parsing: libxml2 passes the parser
/// context as user data; the sink is in its `_private` field.
private func collectParserError(_ userData: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let userData else { return }
    let context = userData.assumingMemoryBound(to: xmlParserCtxt.self)
    guard let sink = context.pointee._private else { return }
    Unmanaged<MessageSink>.fromOpaque(sink).takeUnretainedValue().append(error)
}
