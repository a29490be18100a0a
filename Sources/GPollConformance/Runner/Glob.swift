/// Shell-style patterns on case ids: `*` any run of characters (`/` included, so
/// `handshake*` and `handshake/*` both work), `?` one character, `[abc]`, `[0-9]`
/// and `[!x]` a class.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let tokens: [Token]

    private enum Token: Hashable {
        case literal(Character)
        case any
        case one
        case set([ClosedRange<Character>], negated: Bool)
    }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case empty
        case unclosedBracket(String)
        public var description: String {
            switch self {
            case .empty: return "an empty pattern matches no case id"
            case .unclosedBracket(let pattern): return "'\(pattern)' has a '[' without its ']'"
            }
        }
    }

    public var description: String { pattern }

    public init(_ pattern: String) throws(ParseError) {
        guard !pattern.isEmpty else { throw .empty }
        self.pattern = pattern
        var tokens: [Token] = []
        var characters = Array(pattern)[...]
        while let c = characters.popFirst() {
            switch c {
            case "*": if tokens.last != .any { tokens.append(.any) }
            case "?": tokens.append(.one)
            case "[":
                guard let close = characters.dropFirst().firstIndex(of: "]") else { throw .unclosedBracket(pattern) }
                var body = Array(characters[characters.startIndex..<close])
                characters = characters[(close + 1)...]
                let negated = body.first == "!" || body.first == "^"
                if negated { body.removeFirst() }
                var ranges: [ClosedRange<Character>] = []
                var i = 0
                while i < body.count {
                    if i + 2 < body.count, body[i + 1] == "-" {
                        ranges.append(min(body[i], body[i + 2])...max(body[i], body[i + 2]))
                        i += 3
                    } else {
                        ranges.append(body[i]...body[i])
                        i += 1
                    }
                }
                tokens.append(.set(ranges, negated: negated))
            default: tokens.append(.literal(c))
            }
        }
        self.tokens = tokens
    }

    public func matches(_ text: String) -> Bool {
        Self.match(tokens[...], Array(text)[...])
    }

    private static func match(_ tokens: ArraySlice<Token>, _ text: ArraySlice<Character>) -> Bool {
        guard let token = tokens.first else { return text.isEmpty }
        let rest = tokens.dropFirst()
        switch token {
        case .any:
            // Try every split; ids are short, so the backtracking is cheap.
            for start in text.startIndex...text.endIndex where match(rest, text[start...]) { return true }
            return false
        case .one:
            return !text.isEmpty && match(rest, text.dropFirst())
        case .literal(let c):
            return text.first == c && match(rest, text.dropFirst())
        case .set(let ranges, let negated):
            guard let c = text.first else { return false }
            return ranges.contains { $0.contains(c) } != negated && match(rest, text.dropFirst())
        }
    }
}

/// Which catalog cases a run includes: every `--case` (all if none), minus every `--exclude`.
public struct CaseSelection: Sendable {
    public var include: [Glob]
    public var exclude: [Glob]

    public init(include: [Glob] = [], exclude: [Glob] = []) {
        self.include = include
        self.exclude = exclude
    }

    public func selects(_ id: String) -> Bool {
        (include.isEmpty || include.contains { $0.matches(id) }) && !exclude.contains { $0.matches(id) }
    }

    /// Patterns that match none of `ids`: almost always a typo, so the CLI refuses them.
    public func unmatched(in ids: [String]) -> [Glob] {
        (include + exclude).filter { glob in !ids.contains { glob.matches($0) } }
    }
}
