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

    /// The catalog's vocabulary of what a case needs before it can run (Spec §16.2).
    public enum Need: Sendable, Hashable, Codable, CustomStringConvertible {
        case publish
        /// B is known (it always is: the default is 100).
        case clientBuffer
        /// B is at least this many messages (`client-buffer>=N`): cases that must
        /// hold N undelivered messages for an idle client without evicting it.
        case clientBufferAtLeast(Int)
        /// T is known and not 0.
        case pollTimeout
        /// E is known and not 0.
        case idleExpiry
        /// The client limit is known (and so not 0).
        case maxClients
        case secondEndpoint
        /// The server offers acknowledged delivery (`"ack"` in the handshake's `extensions`).
        case ack
        /// The stress tier was asked for (`--stress`).
        case stress

        private static let plain: [Need] = [.publish, .clientBuffer, .pollTimeout, .idleExpiry, .maxClients,
                                            .secondEndpoint, .ack, .stress]
        private static let atLeastPrefix = "client-buffer>="

        /// Parses a catalog token; nil for a token this build does not know.
        public init?(rawValue: String) {
            if let known = Need.plain.first(where: { $0.rawValue == rawValue }) {
                self = known
            } else if rawValue.hasPrefix(Need.atLeastPrefix),
                      let count = Int(rawValue.dropFirst(Need.atLeastPrefix.count)), count >= 1 {
                self = .clientBufferAtLeast(count)
            } else {
                return nil
            }
        }

        /// The token in `catalog.json`, e.g. `client-buffer>=4`.
        public var rawValue: String {
            switch self {
            case .publish: "publish"
            case .clientBuffer: "client-buffer"
            case .clientBufferAtLeast(let count): "\(Need.atLeastPrefix)\(count)"
            case .pollTimeout: "poll-timeout"
            case .idleExpiry: "idle-expiry"
            case .maxClients: "max-clients"
            case .secondEndpoint: "second-endpoint"
            case .ack: "ack"
            case .stress: "stress"
            }
        }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            let token = try decoder.singleValueContainer().decode(String.self)
            guard let need = Need(rawValue: token) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown need '\(token)'"))
            }
            self = need
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// Whether this need asks for B to be known (plain or with a minimum).
        public var concernsClientBuffer: Bool {
            switch self {
            case .clientBuffer, .clientBufferAtLeast: true
            default: false
            }
        }
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
