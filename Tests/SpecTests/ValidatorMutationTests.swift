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

    private func kinds(markdown: String? = nil, catalog: Catalog? = nil, registry: [String]? = nil) -> Set<CatalogValidator.Problem.Kind> {
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

    @Test("A citation in the markdown text of a requirement that does not exist")
    func unknownCitation() {
        let text = markdown.replacingOccurrences(of: "| DC-1, DC-2 |", with: "| DC-1, DC-3 |")
        let found = CatalogValidator.validate(markdown: text, catalog: catalog)
        #expect(found.contains { $0.kind == .unknownRequirement && $0.message.contains("DC-3") })
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
        let all = catalog.activeCases(on: .server).map(\.id)
        #expect(kinds(registry: all + ["poll/999"]).contains(.registryUnknownCase))
        #expect(kinds(registry: Array(all.dropLast())).contains(.registryMissingCase))
        #expect(kinds(registry: all + [all[0]]).contains(.registryUnknownCase))

        var retired = catalog
        retired.cases[try caseIndex("poll/001")].retired = true
        let found = CatalogValidator.validate(markdown: markdown, catalog: retired, registry: all)
        #expect(found.contains { $0.kind == .registryUnknownCase && $0.message.contains("retired") })
    }

    @Test("Registries hold one side each: a client case in the server registry, a server case in the client registry")
    func registrySides() throws {
        let server = catalog.activeCases(on: .server).map(\.id)
        let client = catalog.activeCases(on: .client).map(\.id)
        #expect(!client.isEmpty && client.allSatisfy { $0.hasPrefix("client/") })
        #expect(CatalogValidator.validate(markdown: markdown, catalog: catalog, registry: server, clientRegistry: client).isEmpty)

        let mixed = CatalogValidator.validate(markdown: markdown, catalog: catalog, registry: server + [client[0]])
        #expect(mixed.contains { $0.kind == .registryUnknownCase && $0.message.contains(client[0]) && $0.message.contains("server case") })
        let reverse = CatalogValidator.validate(markdown: markdown, catalog: catalog, clientRegistry: client + [server[0]])
        #expect(reverse.contains { $0.kind == .registryUnknownCase && $0.message.contains(server[0]) })
        let short = CatalogValidator.validate(markdown: markdown, catalog: catalog, clientRegistry: Array(client.dropFirst()))
        #expect(short.map(\.kind) == [.registryMissingCase])
    }

    @Test("An active case citing a retired requirement")
    func retiredRequirementCited() throws {
        var mutated = catalog
        mutated.cases[try caseIndex("buffer/004")].requirements = ["BU-3", "BU-6"]
        let found = CatalogValidator.validate(markdown: markdown, catalog: mutated)
        #expect(found.contains { $0.kind == .retiredRequirementCited && $0.message.contains("BU-6") })
        // BU-7 is still covered by buffer/005 and disconnect/003, so besides the stale
        // Appendix B row that is the only problem.
        #expect(Set(found.map(\.kind)) == [.retiredRequirementCited, .caseDiffers])

        // A retired case may keep citing the retired requirement it checked.
        #expect(catalog.case("handshake/007")?.retired == true)
        #expect(catalog.case("handshake/007")?.requirements == ["HS-4"])
    }

    @Test("Retirement must agree between markdown and catalog")
    func retirementDiffers() throws {
        var active = catalog
        let index = try #require(active.requirements.firstIndex { $0.id == "HS-4" })
        active.requirements[index].retired = false
        let found = CatalogValidator.validate(markdown: markdown, catalog: active)
        #expect(found.contains { $0.kind == .requirementDiffers && $0.message.contains("HS-4") && $0.message.contains("retired in the markdown") })

        let line = try #require(markdown.split(separator: "\n").first { $0.hasPrefix("- **[HS-4]**") })
        let unretired = markdown.replacingOccurrences(of: String(line), with: line.replacingOccurrences(of: "retired (SHOULD)", with: "SHOULD"))
        #expect(kinds(markdown: unretired).contains(.requirementDiffers))
    }

    @Test("A retired requirement that the text never explains")
    func retiredWithoutNote() {
        // Keep PO-4's own line; drop every other line that mentions PO-4.
        let text = markdown.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { $0.hasPrefix("- **[PO-4]**") || !$0.contains("PO-4") }.joined(separator: "\n")
        let found = CatalogValidator.validate(markdown: text, catalog: catalog)
        #expect(found.map(\.kind) == [.retiredWithoutNote])
        #expect(found.first?.message.contains("PO-4") == true)
    }

    @Test("Client cases cite client requirements only, server cases server requirements only")
    func sideMismatch() throws {
        var clientCitesServer = catalog
        clientCitesServer.cases[try caseIndex("client/001")].requirements.append("TR-2")
        #expect(CatalogValidator.validate(markdown: markdown, catalog: clientCitesServer)
            .contains { $0.kind == .sideMismatch && $0.message.contains("client/001") && $0.message.contains("TR-2") })

        var serverCitesClient = catalog
        serverCitesClient.cases[try caseIndex("poll/001")].requirements.append("CL-1")
        #expect(CatalogValidator.validate(markdown: markdown, catalog: serverCitesClient)
            .contains { $0.kind == .sideMismatch && $0.message.contains("poll/001") })
    }

    @Test("Every CL MUST and SHOULD needs a client case; a server case citing it does not count")
    func clientCoverage() throws {
        // CL-14 (report a gap) is checked by client/011 only.
        var mutated = catalog
        mutated.cases[try caseIndex("client/011")].retired = true
        #expect(CatalogValidator.validate(markdown: markdown, catalog: mutated)
            .contains { $0.kind == .uncoveredRequirement && $0.message.contains("CL-14") && $0.message.contains("client case") })

        mutated.cases[try caseIndex("transport/004")].requirements.append("CL-14")
        let found = CatalogValidator.validate(markdown: markdown, catalog: mutated)
        #expect(found.contains { $0.kind == .uncoveredRequirement && $0.message.contains("CL-14") })
        #expect(found.contains { $0.kind == .sideMismatch })

        // A MUST one too: CL-24 (ack=0 after registering again) is client/018's alone.
        var must = catalog
        must.cases[try caseIndex("client/018")].retired = true
        #expect(CatalogValidator.validate(markdown: markdown, catalog: must)
            .contains { $0.kind == .uncoveredRequirement && $0.message.contains("CL-24") })
    }

    @Test("A client case may need only what a client under test can have")
    func misplacedNeed() throws {
        var mutated = catalog
        mutated.cases[try caseIndex("client/001")].needs.append(.publish)
        #expect(kinds(catalog: mutated).contains(.misplacedNeed))

        var fine = catalog
        fine.cases[try caseIndex("client/001")].needs.append(.ack)
        #expect(!kinds(catalog: fine).contains(.misplacedNeed))
        // A server case may need ack too.
        #expect(catalog.case("ack/001")?.needs.contains(.ack) == true)
    }

    @Test("Needs decode into typed values, client-buffer>=N included")
    func typedNeeds() throws {
        #expect(Catalog.Need(rawValue: "ack") == .ack)
        #expect(Catalog.Need(rawValue: "stress") == .stress)
        #expect(Catalog.Need(rawValue: "client-buffer") == .clientBuffer)
        #expect(Catalog.Need(rawValue: "client-buffer>=20") == .clientBufferAtLeast(20))
        #expect(Catalog.Need.clientBufferAtLeast(20).rawValue == "client-buffer>=20")
        for bad in ["client-buffer>=0", "client-buffer>=", "client-buffer>=07", "client-buffer>=x", "client-buffer>=-1",
                    "client-buffer>= 2", "client-buffer>=99999999999999999999999", "Ack"] {
            #expect(!Catalog.Need(rawValue: bad).isKnown, "\(bad)")
        }
        // The real catalog uses the parameterised form, and it survives a round trip through JSON.
        let needs = catalog.cases.flatMap(\.needs)
        #expect(needs.contains(.clientBufferAtLeast(40)))
        #expect(needs.contains(.stress) && needs.contains(.ack))
        let encoded = try JSONEncoder().encode(needs)
        #expect(try JSONDecoder().decode([Catalog.Need].self, from: encoded) == needs)

        var mutated = catalog
        mutated.cases[try caseIndex("delivery/009")].needs = [.publish, .unknown("client-buffer>=0")]
        #expect(kinds(catalog: mutated).contains(.unknownNeed))
    }

    @Test("A requirement's level is the strongest keyword of its sentence")
    func requirementLevelWord() throws {
        // CL-21 once carried a MUST NOT inside a SHOULD requirement.
        var mutated = catalog
        let index = try #require(mutated.requirements.firstIndex { $0.id == "CL-21" })
        mutated.requirements[index].text += " It MUST NOT require any member."
        #expect(CatalogValidator.validate(markdown: markdown, catalog: mutated)
            .contains { $0.kind == .requirementLevelWord && $0.message.contains("CL-21") })

        var none = catalog
        none.requirements[index].text = "A client uses the advertised settings."
        #expect(kinds(catalog: none).contains(.requirementLevelWord))
        // Lowercase words and words inside others do not count.
        #expect(CatalogValidator.strongestKeyword(in: "It may, and MAYBE should.") == nil)
        #expect(CatalogValidator.strongestKeyword(in: "It MAY; it is RECOMMENDED.") == .should)
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
            - **[HS-4]** retired (SHOULD): Withdrawn.
            - **[HS-5]** retired SHOULD: not the form.
            ## Appendix B. Case catalog
            | id | title | level | requirements | needs |
            |----|-------|-------|--------------|-------|
            | `handshake/001` | A title | MUST | HS-1 | publish, client-buffer |
            | `handshake/002` | Old | retired (SHOULD) | HS-2 | — |
            """
        let document = SpecDocument(markdown: text)
        #expect(document.requirements.map(\.id) == ["HS-1", "HS-2", "HS-4"])
        #expect(document.requirements[2].retired && document.requirements[2].level == .should)
        #expect(!document.requirements[0].retired)
        #expect(document.requirements[0].text == "A sentence with `code` and: a colon.")
        #expect(document.requirements[0].section == 5)
        #expect(document.requirements[1].level == .should)
        #expect(document.malformed.count == 2)
        #expect(document.caseRows.count == 2)
        #expect(document.caseRows[0].needs == ["publish", "client-buffer"])
        #expect(document.caseRows[0].level == .must && !document.caseRows[0].retired)
        #expect(document.caseRows[1].retired && document.caseRows[1].level == .should)
        #expect(document.caseRows[1].needs.isEmpty)
        // HS-3 and HS-5 from the malformed lines.
        #expect(document.citations.map(\.id) == ["HS-3", "HS-5", "HS-1", "HS-2"])
        #expect(SpecDocument.requirementIDs(in: "see TR-1, (HS-12) and UTF-8, XHS-1, HS-1a, RFC-9110") == ["TR-1", "HS-12"])
    }
}
