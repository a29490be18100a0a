import Foundation

/// The machine-readable case catalog of the gpoll specification, as stored in
/// `Spec/catalog.json`: the sections, every requirement with its level and
/// sentence, and every conformance case.
public struct Catalog: Codable, Sendable, Hashable {
    /// The protocol name, `gpoll/1`.
    public var spec: String
    /// The version of the specification text, `1.0.0`.
    public var specVersion: String
    /// Sections 3 to 16, the ones that carry requirements and cases.
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

    /// The cases that are not retired, in catalog order.
    public var activeCases: [Case] {
        cases.filter { !$0.retired }
    }
}

/// A numbered section of the specification that holds requirements.
public struct Section: Codable, Sendable, Hashable {
    /// The section number in `gpoll-1.md` (3 to 16).
    public var number: Int
    /// The two-letter requirement tag, for example `HS`.
    public var tag: String
    /// The case-id prefix, for example `handshake`.
    public var slug: String
    public var title: String

    public init(number: Int, tag: String, slug: String, title: String) {
        self.number = number
        self.tag = tag
        self.slug = slug
        self.title = title
    }
}

/// The RFC 2119 level of a requirement or a case.
public enum Level: String, Codable, Sendable, Hashable, CaseIterable {
    case must = "MUST"
    case should = "SHOULD"
    case may = "MAY"
}

/// One requirement: `- **[HS-1]** MUST: sentence` in the markdown.
public struct Requirement: Codable, Sendable, Hashable {
    /// `TAG-n`, for example `HS-1`.
    public var id: String
    /// The number of the section that states it.
    public var section: Int
    public var level: Level
    /// The sentence, exactly as in the markdown; a tester prints it next to a failure.
    public var text: String

    public init(id: String, section: Int, level: Level, text: String) {
        self.id = id
        self.section = section
        self.level = level
        self.text = text
    }
}

/// What a case needs from the tester's configuration before it can run.
///
/// A string outside the vocabulary decodes to ``unknown(_:)``, so that a
/// catalog with a typo still loads and ``CatalogValidator`` can report it.
public enum Need: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A publish URL (the harness interface).
    case publish
    /// The tester knows B, the per-client queue capacity.
    case clientBuffer
    /// The tester knows T, the poll timeout.
    case pollTimeout
    /// The tester knows E, the idle expiry.
    case idleExpiry
    /// The tester knows the configured client limit.
    case maxClients
    /// A second endpoint on the same server, with its own publish URL.
    case secondEndpoint
    /// B is at least this many messages (`client-buffer>=N`).
    case clientBufferAtLeast(Int)
    /// The server offers acknowledged delivery.
    case ack
    /// The stress tier was asked for.
    case stress
    /// A string outside the vocabulary.
    case unknown(String)

    /// The vocabulary, in the order the specification lists it (`client-buffer>=N`
    /// aside, which takes a number).
    public static let known: [Need] = [.publish, .clientBuffer, .pollTimeout, .idleExpiry, .maxClients, .secondEndpoint, .ack, .stress]

    public init(rawValue: String) {
        let prefix = "client-buffer>="
        if rawValue.hasPrefix(prefix), let count = Int(rawValue.dropFirst(prefix.count)), count >= 1 {
            self = .clientBufferAtLeast(count)
        } else {
            self = Need.known.first { $0.rawValue == rawValue } ?? .unknown(rawValue)
        }
    }

    /// The string used in `catalog.json`, for example `client-buffer`.
    public var rawValue: String {
        switch self {
        case .publish: "publish"
        case .clientBuffer: "client-buffer"
        case .pollTimeout: "poll-timeout"
        case .idleExpiry: "idle-expiry"
        case .maxClients: "max-clients"
        case .secondEndpoint: "second-endpoint"
        case .clientBufferAtLeast(let count): "client-buffer>=\(count)"
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
