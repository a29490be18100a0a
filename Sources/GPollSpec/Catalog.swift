import Foundation

/// The machine-readable case catalog of the gpoll specification, as stored in
/// `Spec/catalog.json`: the sections, every requirement with its level and
/// sentence, and every conformance case.
///
/// Its parts are nested types (`Catalog.Case`, `Catalog.Need`, ...) so that
/// they do not clash with a user's own `Case` or `Section`.
public struct Catalog: Codable, Sendable, Hashable {
    /// The protocol name, `gpoll/1`.
    public var spec: String
    /// The version of the specification text, for example `1.1.0`.
    public var specVersion: String
    /// Sections 3 to 20, the ones that carry requirements or cases.
    public var sections: [Section]
    /// Every requirement, retired ones included.
    public var requirements: [Requirement]
    /// Every case, retired ones included.
    public var cases: [Case]

    public init(spec: String, specVersion: String, sections: [Section], requirements: [Requirement], cases: [Case]) {
        self.spec = spec
        self.specVersion = specVersion
        self.sections = sections
        self.requirements = requirements
        self.cases = cases
    }

    /// Decodes a catalog from the bytes of `catalog.json`.
    public static func decode(from data: Data) throws -> Catalog {
        try JSONDecoder().decode(Catalog.self, from: data)
    }

    /// The requirement with the given id, if any.
    public func requirement(_ id: String) -> Requirement? {
        requirements.first { $0.id == id }
    }

    /// The case with the given id, if any.
    public func `case`(_ id: String) -> Case? {
        cases.first { $0.id == id }
    }

    /// The section with the given number, if any.
    public func section(number: Int) -> Section? {
        sections.first { $0.number == number }
    }

    /// Which side of the protocol a section number belongs to; a number the
    /// catalog does not list counts as the server's.
    public func side(ofSection number: Int) -> Side {
        section(number: number)?.side ?? .server
    }

    /// The cases that are not retired, in catalog order.
    public var activeCases: [Case] {
        cases.filter { !$0.retired }
    }

    /// The non-retired cases of one side: `.server` for gpoll-conform's
    /// registry, `.client` for a client-conformance mode.
    public func activeCases(on wanted: Side) -> [Case] {
        activeCases.filter { side(ofSection: $0.section) == wanted }
    }
}

extension Catalog {
    /// Whose obligations a section states: the server's (sections 3 to 18, 20)
    /// or the client's (section 19).
    public enum Side: String, Codable, Sendable, Hashable, CaseIterable {
        case server
        case client
    }

    /// A numbered section of the specification that holds requirements or cases.
    public struct Section: Codable, Sendable, Hashable {
        /// The section number in `gpoll-1.md` (3 to 20).
        public var number: Int
        /// The two-letter requirement tag, for example `HS`.
        public var tag: String
        /// The case-id prefix, for example `handshake`.
        public var slug: String
        public var title: String
        /// `server` unless the catalog says `"side": "client"`.
        public var side: Side

        public init(number: Int, tag: String, slug: String, title: String, side: Side = .server) {
            self.number = number
            self.tag = tag
            self.slug = slug
            self.title = title
            self.side = side
        }

        enum CodingKeys: String, CodingKey { case number, tag, slug, title, side }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(number: try c.decode(Int.self, forKey: .number), tag: try c.decode(String.self, forKey: .tag),
                      slug: try c.decode(String.self, forKey: .slug), title: try c.decode(String.self, forKey: .title),
                      side: try c.decodeIfPresent(Side.self, forKey: .side) ?? .server)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(number, forKey: .number)
            try c.encode(tag, forKey: .tag)
            try c.encode(slug, forKey: .slug)
            try c.encode(title, forKey: .title)
            // The catalog only spells out the exception.
            if side != .server { try c.encode(side, forKey: .side) }
        }
    }

    /// The RFC 2119 level of a requirement or a case.
    public enum Level: String, Codable, Sendable, Hashable, CaseIterable {
        case must = "MUST"
        case should = "SHOULD"
        case may = "MAY"
    }

    /// One requirement: `- **[HS-1]** MUST: sentence` in the markdown, or
    /// `- **[HS-4]** retired (SHOULD): sentence` once withdrawn.
    public struct Requirement: Codable, Sendable, Hashable {
        /// `TAG-n`, for example `HS-1`.
        public var id: String
        /// The number of the section that states it.
        public var section: Int
        public var level: Level
        /// The sentence, exactly as in the markdown; a tester prints it next to a failure.
        public var text: String
        /// A retired requirement keeps its id and sentence but binds no one;
        /// no active case may cite it.
        public var retired: Bool

        public init(id: String, section: Int, level: Level, text: String, retired: Bool = false) {
            self.id = id
            self.section = section
            self.level = level
            self.text = text
            self.retired = retired
        }

        enum CodingKeys: String, CodingKey { case id, section, level, text, retired }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(id: try c.decode(String.self, forKey: .id), section: try c.decode(Int.self, forKey: .section),
                      level: try c.decode(Level.self, forKey: .level), text: try c.decode(String.self, forKey: .text),
                      retired: try c.decodeIfPresent(Bool.self, forKey: .retired) ?? false)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(section, forKey: .section)
            try c.encode(level, forKey: .level)
            try c.encode(text, forKey: .text)
            if retired { try c.encode(true, forKey: .retired) }
        }
    }

    /// What a case needs from the tester's configuration before it can run
    /// (Spec section 16.3). A case whose needs are unmet is skipped.
    ///
    /// A string outside the vocabulary decodes to ``unknown(_:)``, so that a
    /// catalog with a typo still loads and ``CatalogValidator`` can report it.
    public enum Need: Sendable, Hashable, Codable, CustomStringConvertible {
        /// A publish URL (the harness interface).
        case publish
        /// The tester knows B, the per-client queue capacity.
        case clientBuffer
        /// `client-buffer>=N`: B is known and at least N (N of 1 or more).
        case clientBufferAtLeast(Int)
        /// The tester knows T, the poll timeout, and it is not 0.
        case pollTimeout
        /// The tester knows E, the idle expiry, and it is not 0.
        case idleExpiry
        /// The tester knows the configured client limit, and it is not 0.
        case maxClients
        /// A second endpoint on the same server, with its own publish URL.
        case secondEndpoint
        /// The server offers acknowledged delivery; for a client case, the
        /// client under test implements it.
        case ack
        /// The tester was asked for the stress tier (off by default).
        case stress
        /// A string outside the vocabulary.
        case unknown(String)

        /// The needs without a parameter, in the order the specification lists them.
        public static let known: [Need] = [.publish, .clientBuffer, .pollTimeout, .idleExpiry, .maxClients,
                                           .secondEndpoint, .ack, .stress]

        /// The needs a client case may have: a scripted server meets the others itself.
        public static let clientSide: [Need] = [.ack]

        private static let atLeastPrefix = "client-buffer>="

        public init(rawValue: String) {
            if let need = Need.known.first(where: { $0.rawValue == rawValue }) {
                self = need
            } else if rawValue.hasPrefix(Need.atLeastPrefix), let n = Need.positiveDecimal(rawValue.dropFirst(Need.atLeastPrefix.count)) {
                self = .clientBufferAtLeast(n)
            } else {
                self = .unknown(rawValue)
            }
        }

        /// `%x31-39 *DIGIT` that fits an Int; nil otherwise.
        private static func positiveDecimal(_ text: Substring) -> Int? {
            guard let first = text.first, first != "0", text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(text)
        }

        /// The string used in `catalog.json`, for example `client-buffer>=20`.
        public var rawValue: String {
            switch self {
            case .publish: "publish"
            case .clientBuffer: "client-buffer"
            case .clientBufferAtLeast(let n): Need.atLeastPrefix + String(n)
            case .pollTimeout: "poll-timeout"
            case .idleExpiry: "idle-expiry"
            case .maxClients: "max-clients"
            case .secondEndpoint: "second-endpoint"
            case .ack: "ack"
            case .stress: "stress"
            case .unknown(let raw): raw
            }
        }

        /// Whether the need is part of the vocabulary.
        public var isKnown: Bool {
            if case .unknown = self { return false }
            return true
        }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    /// One conformance case.
    public struct Case: Codable, Sendable, Hashable {
        /// `<slug>/<nnn>`, for example `handshake/001`; stable, never renumbered or reused.
        public var id: String
        public var title: String
        /// The number of the section whose slug prefixes the id.
        public var section: Int
        /// The level of every requirement the case cites: a MUST case that does not
        /// pass is a FAIL, a SHOULD case a WARN.
        public var level: Level
        /// The ids of the requirements the case checks.
        public var requirements: [String]
        public var needs: [Need]
        /// What the case sends and what it expects, in a few sentences.
        public var description: String
        /// A retired case stays listed but is never run.
        public var retired: Bool

        public init(id: String, title: String, section: Int, level: Level, requirements: [String],
                    needs: [Need], description: String, retired: Bool = false) {
            self.id = id
            self.title = title
            self.section = section
            self.level = level
            self.requirements = requirements
            self.needs = needs
            self.description = description
            self.retired = retired
        }

        /// The part of the id before the `/`.
        public var slug: String {
            String(id.prefix { $0 != "/" })
        }
    }
}
