import Foundation
import Testing
@testable import GPollSpec

/// The repository root, found from this file's path (Tests/SpecTests/<file>).
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()

private func specFile(_ name: String) throws -> Data {
    try Data(contentsOf: repositoryRoot.appendingPathComponent("Spec").appendingPathComponent(name))
}

private func markdownText() throws -> String {
    String(decoding: try specFile("gpoll-1.md"), as: UTF8.self)
}

private func fileCatalog() throws -> Catalog {
    try Catalog.decode(from: try specFile("catalog.json"))
}

private func describe(_ problems: [CatalogValidator.Problem]) -> String {
    problems.map(\.description).joined(separator: "\n")
}

@Suite("The real specification")
struct RealSpecTests {
    @Test("gpoll-1.md and catalog.json agree, with no problem")
    func specAndCatalogAgree() throws {
        let problems = CatalogValidator.validate(markdown: try markdownText(), catalog: try fileCatalog())
        #expect(problems.isEmpty, "\(describe(problems))")
    }

    @Test("The embedded catalog is catalog.json byte for byte")
    func embeddedCatalogIsCurrent() throws {
        let onDisk = try specFile("catalog.json")
        #expect(Data(EmbeddedCatalog.json.utf8) == onDisk,
                "Sources/GPollSpec/EmbeddedCatalog.swift is out of date: run Scripts/embed-catalog")
    }

    @Test("The embedded catalog decodes to the same catalog as the file")
    func embeddedCatalogDecodes() throws {
        #expect(EmbeddedCatalog.catalog == (try fileCatalog()))
    }

    @Test("Catalog shape: spec name, version, sections 3 to 20 with the fixed slugs")
    func catalogShape() throws {
        let catalog = try fileCatalog()
        #expect(catalog.spec == "gpoll/1")
        #expect(catalog.specVersion == "1.1.0")
        #expect(catalog.sections.map(\.number) == Array(3...20))
        #expect(catalog.sections.map(\.slug) == [
            "transport", "param", "handshake", "grammar", "poll", "notfound", "buffer",
            "delivery", "concurrent", "timeout", "disconnect", "limits", "security", "harness",
            "advertise", "ack", "client", "stress",
        ])
        #expect(catalog.sections.map(\.tag) == [
            "TR", "PA", "HS", "ID", "PO", "NF", "BU", "DL", "CP", "TO", "DC", "RL", "SE", "HA",
            "AD", "AK", "CL", "ST",
        ])
        // Only section 19 is the client's.
        #expect(catalog.sections.filter { $0.side == .client }.map(\.number) == [19])
    }

    @Test("Requirement numbers run from 1 without gaps in each tag")
    func requirementNumbering() throws {
        let catalog = try fileCatalog()
        for section in catalog.sections {
            let numbers = catalog.requirements
                .filter { $0.id.hasPrefix(section.tag + "-") }
                .compactMap { Int($0.id.dropFirst(section.tag.count + 1)) }
            // The stress tier (ST) states no requirement of its own.
            if numbers.isEmpty { continue }
            #expect(numbers == Array(1...numbers.count), "\(section.tag): \(numbers)")
        }
    }

    @Test("Case numbers run from 001 without gaps in each slug")
    func caseNumbering() throws {
        let catalog = try fileCatalog()
        for section in catalog.sections {
            let numbers = catalog.cases
                .filter { $0.slug == section.slug }
                .compactMap { Int($0.id.dropFirst(section.slug.count + 1)) }
            if numbers.isEmpty { continue }
            #expect(numbers == Array(1...numbers.count), "\(section.slug): \(numbers)")
        }
    }

    @Test("The catalog round-trips through JSON encoding")
    func roundTrip() throws {
        let catalog = try fileCatalog()
        let again = try Catalog.decode(from: try JSONEncoder().encode(catalog))
        #expect(again == catalog)
    }

    @Test("The whole catalog as a server and a client registry validates")
    func registryOfAllActiveCases() throws {
        let catalog = try fileCatalog()
        let problems = CatalogValidator.validate(
            markdown: try markdownText(), catalog: catalog, registry: catalog.activeCases(on: .server).map(\.id),
            clientRegistry: catalog.activeCases(on: .client).map(\.id))
        #expect(problems.isEmpty, "\(describe(problems))")
    }

    @Test("Retired requirements of 1.1.0: flagged in the catalog, never cited by an active case")
    func retiredRequirements() throws {
        let catalog = try fileCatalog()
        #expect(catalog.requirements.filter(\.retired).map(\.id) == ["HS-4", "PO-4", "BU-6", "SE-2"])
        let retired = Set(catalog.requirements.filter(\.retired).map(\.id))
        for item in catalog.activeCases {
            #expect(retired.isDisjoint(with: item.requirements), "\(item.id)")
        }
    }
}
