import Foundation

/// The handshake answer: a JSON object whose member `client-id` is the new id (Spec section 5).
public enum HandshakeBody {
    /// The original's exact form, `{"client-id":"R$U"}`, which Spec recommends.
    /// An id is digits, `$`, hex and hyphens, so nothing needs JSON escaping.
    public static func encode(_ id: ClientID) -> [UInt8] {
        Array(#"{"client-id":""#.utf8) + id.canonicalBytes + Array(#""}"#.utf8)
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
