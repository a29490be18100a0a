import Foundation
import JUnitXML
import Testing

/// The validator really rejects documents the schemas forbid.
@Suite struct ValidatorTests {
    static let header = #"<?xml version="1.0" encoding="UTF-8"?>"#
    static let suiteOpen = #"<testsuites><testsuite name="s" package="p" id="0" timestamp="2024-01-02T03:04:05" hostname="h" tests="1" failures="1" errors="0" time="1.000"><properties/>"#
    static let suiteClose = "<system-out/><system-err/></testsuite></testsuites>"
    static func doc(_ cases: String) -> String { header + suiteOpen + cases + suiteClose }

    @Test func handBuiltValidDocumentPasses() throws {
        let xml = Self.doc(#"<testcase name="n" classname="c" time="0.5"><failure type="T" message="m">x</failure></testcase>"#)
        #expect(try errors(xml, Schemas.ant) == [])
        #expect(try errors(xml, Schemas.jenkins) == [])
    }

    @Test func testcaseWithoutClassnameIsRejected() throws {
        let e = try errors(Self.doc(#"<testcase name="n" time="0.5"/>"#), Schemas.ant)
        #expect(!e.isEmpty)
        #expect(e.contains { $0.contains("classname") }, "\(e)")
    }

    @Test func failureWithoutTypeIsRejected() throws {
        let e = try errors(Self.doc(#"<testcase name="n" classname="c" time="0.5"><failure message="m"/></testcase>"#), Schemas.ant)
        #expect(e.contains { $0.contains("type") }, "\(e)")
    }

    @Test func twoOutcomesAreRejected() throws {
        let xml = Self.doc(#"<testcase name="n" classname="c" time="0"><skipped/><failure type="t"/></testcase>"#)
        #expect(try !errors(xml, Schemas.ant).isEmpty)
    }

    @Test func exponentOrCommaTimeIsRejected() throws {
        for time in ["1.5e3", "1,5", "-1.000"] {
            let xml = Self.doc("").replacingOccurrences(of: #"time="1.000""#, with: "time=\"\(time)\"")
            #expect(try !errors(xml, Schemas.jenkins).isEmpty || time == "-1.000", "\(time)")
            #expect(try !errors(xml, Schemas.ant).isEmpty || time == "-1.000", "\(time)")
        }
        // xs:decimal allows a sign, which is why the writer never emits one.
        let exponentCase = Self.doc(#"<testcase name="n" classname="c" time="1e3"/>"#)
        #expect(try !errors(exponentCase, Schemas.ant).isEmpty)
    }

    @Test func attributesOnTestsuitesAndZonedTimestampAreRejectedByAnt() throws {
        let attrs = Self.doc("").replacingOccurrences(of: "<testsuites>", with: #"<testsuites tests="0">"#)
        #expect(try !errors(attrs, Schemas.ant).isEmpty)
        #expect(try errors(attrs, Schemas.jenkins) == [])
        let zoned = Self.doc("").replacingOccurrences(of: "2024-01-02T03:04:05", with: "2024-01-02T03:04:05Z")
        #expect(try !errors(zoned, Schemas.ant).isEmpty)
    }

    @Test func wrongChildOrderIsRejectedByAnt() throws {
        let xml = Self.header + Self.suiteOpen.replacingOccurrences(of: "<properties/>", with: "")
            + "<system-out/><properties/><system-err/></testsuite></testsuites>"
        #expect(try !errors(xml, Schemas.ant).isEmpty)
    }

    @Test func notWellFormedDocumentsAreReported() throws {
        for bad in ["", "<testsuites>", "<testsuites>&#1;</testsuites>", "<testsuites>\u{1}</testsuites>", "<a></b>"] {
            for schema in Schemas.all {
                #expect(try !errors(bad, schema).isEmpty, "\(bad.debugDescription)")
            }
        }
        let e = try errors("<testsuites>\u{1}</testsuites>", Schemas.ant)
        #expect(e.first?.hasPrefix("line 1: ") == true, "\(e)")
    }

    @Test func missingOrBrokenSchemaThrows() throws {
        #expect(throws: JUnitXMLError.self) {
            try JUnitSchemaValidator.validate(xml: Array("<a/>".utf8), schemaPath: "/nonexistent/\(UUID()).xsd")
        }
        let notSchema = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).xsd")
        try Data("<notaschema/>".utf8).write(to: notSchema)
        defer { try? FileManager.default.removeItem(at: notSchema) }
        #expect(throws: JUnitXMLError.self) {
            try JUnitSchemaValidator.validate(xml: Array("<a/>".utf8), schemaPath: notSchema.path)
        }
    }
}
