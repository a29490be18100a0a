/// What the tester needs of Spec's case catalog. Titles, levels, requirement
/// sentences and needs come from here, never from the case code, so the report
/// always quotes the Spec the binary was built with.
public struct CatalogView: Sendable {
    public enum Level: String, Sendable, Codable, Comparable {
        case must = "MUST"
        case should = "SHOULD"
        case may = "MAY"

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
        private var rank: Int { self == .must ? 0 : self == .should ? 1 : 2 }
    }

    /// The catalog's vocabulary of what a case needs from the command line.
    public enum Need: String, Sendable, Codable, CaseIterable {
        case publish
        case clientBuffer = "client-buffer"
        case pollTimeout = "poll-timeout"
        case idleExpiry = "idle-expiry"
        case maxClients = "max-clients"
        case secondEndpoint = "second-endpoint"
    }

    public struct Section: Sendable, Codable, Equatable {
        public var number: String
        public var tag: String
        public var slug: String
        public var title: String
        public init(number: String, tag: String, slug: String, title: String) {
            self.number = number; self.tag = tag; self.slug = slug; self.title = title
        }
    }

    public struct Requirement: Sendable, Codable, Equatable {
        public var id: String
        public var section: String
        public var level: Level
        public var text: String
        public init(id: String, section: String, level: Level, text: String) {
            self.id = id; self.section = section; self.level = level; self.text = text
        }
    }

    public struct Case: Sendable, Codable, Equatable {
        public var id: String
        public var title: String
        public var section: String
        public var level: Level
        public var requirements: [String]
        public var needs: [Need]
        /// Needs the catalog names that this build does not know (a newer Spec): no
        /// option can meet them, so the case is skipped, never run without them.
        public var unknownNeeds: [String]
        public var description: String
        public var retired: Bool
        public init(id: String, title: String, section: String, level: Level, requirements: [String],
                    needs: [Need], unknownNeeds: [String] = [], description: String, retired: Bool) {
            self.id = id; self.title = title; self.section = section; self.level = level
            self.requirements = requirements; self.needs = needs; self.unknownNeeds = unknownNeeds
            self.description = description; self.retired = retired
        }

        enum CodingKeys: String, CodingKey {
            case id, title, section, level, requirements, needs, unknownNeeds, description, retired
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(id: try c.decode(String.self, forKey: .id), title: try c.decode(String.self, forKey: .title),
                      section: try c.decode(String.self, forKey: .section), level: try c.decode(Level.self, forKey: .level),
                      requirements: try c.decode([String].self, forKey: .requirements),
                      needs: try c.decode([Need].self, forKey: .needs),
                      unknownNeeds: try c.decodeIfPresent([String].self, forKey: .unknownNeeds) ?? [],
                      description: try c.decode(String.self, forKey: .description), retired: try c.decode(Bool.self, forKey: .retired))
        }
    }

    public var spec: String
    public var specVersion: String
    public var sections: [Section]
    public var requirements: [Requirement]
    public var cases: [Case]

    public init(spec: String, specVersion: String, sections: [Section], requirements: [Requirement], cases: [Case]) {
        self.spec = spec
        self.specVersion = specVersion
        self.sections = sections
        self.requirements = requirements
        self.cases = cases
    }

    public func requirement(_ id: String) -> Requirement? { requirements.first { $0.id == id } }
    public func section(_ number: String) -> Section? { sections.first { $0.number == number } }
    public func entry(_ id: String) -> Case? { cases.first { $0.id == id } }
    public var activeCases: [Case] { cases.filter { !$0.retired } }
}
