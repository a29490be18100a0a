import Foundation
import GPollSpec

/// `--json FILE`: the whole run for scripts.
public struct JSONReport: Codable, Sendable {
    public var run: RunInfo
    public var summary: Summary
    public var results: [CaseResult]

    public init(run: RunInfo, results: [CaseResult]) {
        self.run = run
        self.summary = Summary(results)
        self.results = results
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}

/// `--list --json`: the catalog's server cases as this binary runs them.
public struct CatalogListing: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var id: String
        public var title: String
        public var section: Int
        public var level: Catalog.Level
        public var requirements: [String]
        public var needs: [Catalog.Need]
        public var retired: Bool
        public var description: String
    }

    public var spec: String
    public var specVersion: String
    public var cases: [Item]

    public init(_ catalog: Catalog, selection: CaseSelection) {
        spec = catalog.spec
        specVersion = catalog.specVersion
        cases = catalog.cases.filter { catalog.side(ofSection: $0.section) == .server && selection.selects($0.id) }.map {
            Item(id: $0.id, title: $0.title, section: $0.section, level: $0.level, requirements: $0.requirements,
                 needs: $0.needs, retired: $0.retired, description: $0.description)
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// One line per case: `handshake/001  MUST    Title  [needs publish] (retired)`.
    public var text: String {
        cases.map { item in
            var line = "\(item.id.padding(toLength: 16, withPad: " ", startingAt: 0)) \(item.level.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(item.title)"
            if !item.needs.isEmpty { line += "  [needs \(item.needs.map(\.rawValue).joined(separator: ", "))]" }
            if item.retired { line += "  (retired)" }
            return line
        }.joined(separator: "\n")
    }
}
