import Foundation

/// The handshake answer: a JSON object whose member `client-id` is the new id (Spec section 5).
public enum HandshakeBody {
    /// The original's exact form, `{"client-id":"R$U"}`, which Spec recommends.
    /// An id is digits, `$`, hex and hyphens, so nothing needs JSON escaping.
    public static func encode(_ id: ClientID) -> [UInt8] {
        encode(id, advertising: nil)
    }

    /// The gpoll/1.1 form: `client-id` first (so the body still begins with
    /// `{"client-id":"`, HS-6), then the advertised settings, compact (AD-1).
    public static func encode(_ id: ClientID, advertising settings: AdvertisedSettings?) -> [UInt8] {
        var body = Array(#"{"client-id":""#.utf8) + id.canonicalBytes + [UInt8(ascii: "\"")]
        if let settings { body += settings.encodedMembers }
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// Reads any valid JSON object with a string member `client-id`, as Spec
    /// requires of clients: whitespace, member order and other members do not matter.
    /// Returns the member's text unparsed, so that a caller can judge its grammar itself.
    public static func decodeClientIDText(_ body: [UInt8]) -> Result<String, HandshakeBodyError> {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(body), options: [])
        } catch {
            return .failure(.notJSON)
        }
        guard let dictionary = object as? [String: Any] else { return .failure(.notAnObject) }
        guard let member = dictionary["client-id"] else { return .failure(.missingMember) }
        guard let text = member as? String else { return .failure(.memberNotAString) }
        return .success(text)
    }

    /// Reads the body and parses the id strictly.
    public static func decode(_ body: [UInt8]) -> Result<ClientID, HandshakeBodyError> {
        decodeClientIDText(body).flatMap { text in
            ClientID.parse(text).mapError { HandshakeBodyError.invalidClientID($0) }
        }
    }
}

public enum HandshakeBodyError: Error, Hashable, Sendable, CustomStringConvertible {
    case notJSON
    case notAnObject
    case missingMember
    case memberNotAString
    case invalidClientID(ClientIDGrammarError)

    public var description: String {
        switch self {
        case .notJSON: return "the body is not valid JSON"
        case .notAnObject: return "the JSON value is not an object"
        case .missingMember: return "the object has no member \"client-id\""
        case .memberNotAString: return "the member \"client-id\" is not a string"
        case .invalidClientID(let error): return "the issued id breaks the grammar: \(error)"
        }
    }
}

/// The settings a gpoll/1.1 handshake object may advertise (Spec section 17).
/// Every member is optional; a client ignores members it does not know.
public struct AdvertisedSettings: Hashable, Sendable {
    public static let currentVersion = "1.1"
    public static let ackExtension = "ack"

    /// `gpoll`: the protocol version the server implements.
    public var version: String?
    /// `poll-timeout`: T in seconds; 0 = polls never time out.
    public var pollTimeoutSeconds: Double?
    /// `client-buffer`: B.
    public var clientBuffer: Int?
    /// `idle-expiry`: E in seconds; 0 = clients never expire.
    public var idleExpirySeconds: Double?
    /// `extensions`: such as `ack`.
    public var extensions: [String]?

    public init(version: String? = nil, pollTimeoutSeconds: Double? = nil, clientBuffer: Int? = nil,
                idleExpirySeconds: Double? = nil, extensions: [String]? = nil) {
        self.version = version
        self.pollTimeoutSeconds = pollTimeoutSeconds
        self.clientBuffer = clientBuffer
        self.idleExpirySeconds = idleExpirySeconds
        self.extensions = extensions
    }

    /// True when the handshake advertised nothing at all (a gpoll/1 server).
    public var isEmpty: Bool { self == AdvertisedSettings() }
    public var offersAck: Bool { extensions?.contains(Self.ackExtension) ?? false }

    /// `,"gpoll":…` and the rest, in the order of the Spec's example.
    var encodedMembers: [UInt8] {
        var text = ""
        if let version { text += #","gpoll":"# + JSONString.quote(version) }
        if let pollTimeoutSeconds { text += #","poll-timeout":"# + Self.jsonNumber(pollTimeoutSeconds) }
        if let clientBuffer { text += #","client-buffer":"# + String(clientBuffer) }
        if let idleExpirySeconds { text += #","idle-expiry":"# + Self.jsonNumber(idleExpirySeconds) }
        if let extensions { text += #","extensions":["# + extensions.map(JSONString.quote).joined(separator: ",") + "]" }
        return Array(text.utf8)
    }

    /// Whole seconds without a fraction (`30`), others as Swift prints them (`1.5`, `1e-05`: both JSON).
    static func jsonNumber(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Reads the advertised members of a handshake body. Members with a wrong
    /// JSON type (AD-3) are left out of the result and each named in `problems`;
    /// unknown members are ignored, as a client must.
    public static func decode(_ body: [UInt8]) -> (settings: AdvertisedSettings, problems: [String]) {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(body)) else {
            return (AdvertisedSettings(), ["the handshake body is not a JSON object"])
        }
        var settings = AdvertisedSettings()
        var problems: [String] = []
        func nonNegative(_ name: String) -> Double? {
            guard let value = object[name] else { return nil }
            guard let number = value.number, number >= 0, number.isFinite else {
                problems.append("\"\(name)\" must be a number >= 0, got \(value)")
                return nil
            }
            return number
        }
        if let value = object["gpoll"] {
            if case .string(let text) = value { settings.version = text } else { problems.append("\"gpoll\" must be a string, got \(value)") }
        }
        settings.pollTimeoutSeconds = nonNegative("poll-timeout")
        settings.idleExpirySeconds = nonNegative("idle-expiry")
        if let value = object["client-buffer"] {
            if case .integer(let count) = value, count >= 1 { settings.clientBuffer = count } else {
                problems.append("\"client-buffer\" must be an integer >= 1, got \(value)")
            }
        }
        if let value = object["extensions"] {
            if case .array(let items) = value, items.allSatisfy({ $0.string != nil }) {
                settings.extensions = items.compactMap(\.string)
            } else {
                problems.append("\"extensions\" must be an array of strings, got \(value)")
            }
        }
        return (settings, problems)
    }
}

/// Just enough of a JSON value to check the types of advertised members.
enum JSONValue: Decodable, CustomStringConvertible {
    case null, bool(Bool), integer(Int), real(Double), string(String), array([JSONValue]), object

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .real(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            _ = try container.decode([String: JSONValue].self)
            self = .object
        }
    }

    var number: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .real(let value): return value
        default: return nil
        }
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .integer(let value): return "\(value)"
        case .real(let value): return "\(value)"
        case .string(let value): return JSONString.quote(value)
        case .array(let items): return "[" + items.map(\.description).joined(separator: ",") + "]"
        case .object: return "an object"
        }
    }
}
