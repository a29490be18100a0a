import Foundation
import Testing
@testable import GPollSpec

/// Mutations of the real specification and catalog, each of which the
/// validator must report.
@Suite("The validator catches each kind of problem")
struct ValidatorMutationTests {
    let markdown: String
    let catalog: Catalog

    init() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Spec")
        markdown = String(decoding: try Data(contentsOf: root.appendingPathComponent("gpoll-1.md")), as: UTF8.self)
        catalog = try Catalog.decode(from: try Data(contentsOf: root.appendingPathComponent("catalog.json")))
    }

    private func kinds(markdown: String? = nil, catalog: Catalog? = nil, registry: [String]? = nil) -> Set<Problem.Kind> {
        Set(CatalogValidator.validate(markdown: markdown ?? self.markdown, catalog: catalog ?? self.catalog, registry: registry).map(\.kind))
    }

    private func caseIndex(_ id: String) throws -> Int {
        try #require(catalog.cases.firstIndex { $0.id == id })
    }

    @Test("Removing any single case from the catalog is reported")
    func removingAnyCase() {
        for index in catalog.cases.indices {
            var mutated = catalog
            let removed = mutated.cases.remove(at: index)
            let problems = CatalogValidator.validate(markdown: markdown, catalog: mutated)
            #expect(!problems.isEmpty, "removing \(removed.id) went unnoticed")
            #expect(problems.contains { $0.kind == .caseMissingFromCatalog }, "removing \(removed.id)")
        }
    }

    @Test("Removing a case from both catalog and Appendix B is still caught when it was the only check of a requirement")
    func removingSoleCoverage() throws {
        // timeout/001 is the only case of TO-1.
        var mutated = catalog
        mutated.cases.remove(at: try caseIndex("timeout/001"))
        let text = markdown.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("`timeout/001`") }.joined(separator: "\n")
        let problems = CatalogValidator.validate(markdown: text, catalog: mutated)
        #expect(problems.map(\.kind) == [.uncoveredRequirement])
        #expect(problems.first?.message.contains("TO-1") == true)
    }

    @Test("Duplicate case id")
    func duplicateCaseID() throws {
        var mutated = catalog
        mutated.cases.append(mutated.cases[try caseIndex("poll/001")])
        #expect(kinds(catalog: mutated).contains(.duplicateCaseID))
    }

    @Test("Duplicate requirement id, in the catalog and in the markdown")
    func duplicateRequirementID() {
        var mutated = catalog
        mutated.requirements.append(mutated.requirements[0])
        #expect(kinds(catalog: mutated).contains(.duplicateRequirementID))

        let line = markdown.split(separator: "\n").first { $0.hasPrefix("- **[HS-1]**") }!
        let doubled = markdown.replacingOccurrences(of: String(line), with: "\(line)\n\(line)")
        #expect(kinds(markdown: doubled).contains(.duplicateRequirementID))
    }

    @Test("A case citing an unknown requirement")
    func unknownRequirement() throws {
        var mutated = catalog
        mutated.cases[try caseIndex("handshake/001")].requirements.append("HS-99")
        #expect(kinds(catalog: mutated).contains(.unknownRequirement))
    }

    @Test("A SHOULD requirement that no case checks")
    func uncoveredShould() throws {
        // CP-2 (newest poll wins) is checked by concurrent/003 only.
        var mutated = catalog
        mutated.cases[try caseIndex("concurrent/003")].retired = true
        let found = CatalogValidator.validate(markdown: markdown, catalog: mutated)
        #expect(found.contains { $0.kind == .uncoveredRequirement && $0.message.contains("CP-2") })
    }

    @Test("A MUST requirement that no case checks")
    func uncoveredMust() {
        var mutated = catalog
        for index in mutated.cases.indices {
            mutated.cases[index].requirements.removeAll { $0 == "DL-3" }
        }
        let found = CatalogValidator.validate(markdown: markdown, catalog: mutated)
        #expect(found.contains { $0.kind == .uncoveredRequirement && $0.message.contains("DL-3") })
    }

    @Test("A case whose level differs from its requirements'")
    func levelMismatch() throws {
        var mutated = catalog
        mutated.cases[try caseIndex("timeout/001")].level = .must
        #expect(kinds(catalog: mutated).contains(.levelMismatch))

        var mixed = catalog
        mixed.cases[try caseIndex("timeout/002")].requirements.append("TO-1")
        #expect(kinds(catalog: mixed).contains(.levelMismatch))
    }

    @Test("Malformed case ids and slugs that do not match the section")
    func badCaseIDs() throws {
        for bad in ["handshake/1", "handshake/0001", "Handshake/001", "handshake-001", "handshake/000", "poll/001/x"] {
            var mutated = catalog
            mutated.cases[try caseIndex("handshake/001")].id = bad
            #expect(kinds(catalog: mutated).contains(.badCaseID), "\(bad)")
        }
        var wrongSection = catalog
        wrongSection.cases[try caseIndex("handshake/001")].section = 7
        #expect(kinds(catalog: wrongSection).contains(.badCaseID))
    }

    @Test("Unknown need")
    func unknownNeed() throws {
        var mutated = catalog
        mutated.cases[try caseIndex("poll/001")].needs.append(.unknown("publsh"))
        #expect(kinds(catalog: mutated).contains(.unknownNeed))

        // And from JSON text: an unknown need still decodes.
        let json = EmbeddedCatalog.json.replacingOccurrences(of: "\"second-endpoint\"", with: "\"second-endpont\"")
        let decoded = try Catalog.decode(from: Data(json.utf8))
        #expect(kinds(catalog: decoded).contains(.unknownNeed))
    }

    @Test("A requirement in the markdown but not in the catalog, and the reverse")
    func requirementMissing() {
        var fewer = catalog
        fewer.requirements.removeAll { $0.id == "TR-3" }
        #expect(kinds(catalog: fewer).contains(.requirementMissingFromCatalog))

        let text = markdown.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("- **[TR-3]**") }.joined(separator: "\n")
        #expect(kinds(markdown: text).contains(.requirementMissingFromMarkdown))
    }

    @Test("A requirement with a different level or sentence in markdown and catalog")
    func requirementDiffers() {
        var level = catalog
        let index = level.requirements.firstIndex { $0.id == "TR-6" }!
        level.requirements[index].level = .must
        #expect(kinds(catalog: level).contains(.requirementDiffers))

        var text = catalog
        text.requirements[index].text += " Extra."
        #expect(kinds(catalog: text).contains(.requirementDiffers))
    }

    @Test("A case in the catalog but not in Appendix B, and a row that differs")
    func caseTable() {
        let text = markdown.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("`poll/002`") }.joined(separator: "\n")
        #expect(kinds(markdown: text).contains(.caseMissingFromMarkdown))

        var retitled = catalog
        retitled.cases[0].title += " (changed)"
        #expect(kinds(catalog: retitled).contains(.caseDiffers))
    }

    @Test("Registry: unknown id, retired id, missing case, duplicate")
    func registry() throws {
        let all = catalog.activeCases.map(\.id)
        #expect(kinds(registry: all + ["poll/999"]).contains(.registryUnknownCase))
        #expect(kinds(registry: Array(all.dropLast())).contains(.registryMissingCase))
        #expect(kinds(registry: all + [all[0]]).contains(.registryUnknownCase))

        var retired = catalog
        retired.cases[try caseIndex("poll/001")].retired = true
        let found = CatalogValidator.validate(markdown: markdown, catalog: retired, registry: all)
        #expect(found.contains { $0.kind == .registryUnknownCase && $0.message.contains("retired") })
    }

    @Test("A malformed requirement line is reported")
    func malformedLine() {
        let text = markdown + "\n- **[XX-1]** MUSTN'T: nothing.\n"
        #expect(kinds(markdown: text).contains(.malformedLine))
    }
}

@Suite("SpecDocument parsing")
struct SpecDocumentTests {
    @Test("Requirement lines, sections and case rows")
    func parse() {
        let text = """
            ## 5. Handshake (HS)
            - **[HS-1]** MUST: A sentence with `code` and: a colon.
            - **[HS-2]** SHOULD: Another.
            - **[HS-3** MUST: broken
            ## Appendix B. Case catalog
            | id | title | level | requirements | needs |
            |----|-------|-------|--------------|-------|
            | `handshake/001` | A title | MUST | HS-1 | publish, client-buffer |
            | `handshake/002` | Old | retired (SHOULD) | HS-2 | — |
            """
        let document = SpecDocument(markdown: text)
        #expect(document.requirements.map(\.id) == ["HS-1", "HS-2"])
        #expect(document.requirements[0].text == "A sentence with `code` and: a colon.")
        #expect(document.requirements[0].section == 5)
        #expect(document.requirements[1].level == .should)
        #expect(document.malformed.count == 1)
        #expect(document.caseRows.count == 2)
        #expect(document.caseRows[0].needs == ["publish", "client-buffer"])
        #expect(document.caseRows[0].level == .must && !document.caseRows[0].retired)
        #expect(document.caseRows[1].retired && document.caseRows[1].level == .should)
        #expect(document.caseRows[1].needs.isEmpty)
    }
}
