/// What the markdown specification (`Spec/gpoll-1.md`) says, as far as tools
/// need it: its requirement lines and the rows of the Appendix B case tables.
///
/// Requirement lines have exactly the form
/// `- **[TAG-n]** LEVEL: sentence` (LEVEL is MUST, SHOULD or MAY), or
/// `- **[TAG-n]** retired (LEVEL): sentence` for a retired one. Case rows are
/// table rows of Appendix B whose first cell is a case id in backticks:
/// `` | `slug/nnn` | title | level | requirements | needs | ``, where level is
/// `MUST`, `SHOULD`, or `retired (MUST)` and so on for a retired case, and needs
/// is a comma-separated list or `—`.
public struct SpecDocument: Sendable, Hashable {
    /// A requirement as written in the markdown.
    public struct RequirementLine: Sendable, Hashable {
        public var id: String
        /// The raw level word; a valid document only has MUST, SHOULD and MAY.
        public var levelWord: String
        public var text: String
        /// Written as `retired (LEVEL)`.
        public var retired: Bool
        /// The number of the `## N. Title` section the line is in, if any.
        public var section: Int?
        /// 1-based line number in the document.
        public var line: Int

        /// The level, when the level word is one.
        public var level: Catalog.Level? { Catalog.Level(rawValue: levelWord) }
    }

    /// A row of an Appendix B case table.
    public struct CaseRow: Sendable, Hashable {
        public var id: String
        public var title: String
        /// The level column: MUST or SHOULD, or nil when it could not be read.
        public var level: Catalog.Level?
        public var retired: Bool
        public var requirements: [String]
        public var needs: [String]
        public var line: Int
    }

    /// A line that starts like a requirement or a case row but does not have the form.
    public struct MalformedLine: Sendable, Hashable {
        public var line: Int
        public var text: String
        public var reason: String
    }

    /// A requirement id mentioned anywhere in the text (in prose, rulings or
    /// tables), other than in the requirement line that states it.
    public struct Citation: Sendable, Hashable {
        public var id: String
        public var line: Int
    }

    public var requirements: [RequirementLine]
    public var caseRows: [CaseRow]
    public var malformed: [MalformedLine]
    public var citations: [Citation]

    /// Parses the markdown text.
    public init(markdown: String) {
        var requirements: [RequirementLine] = []
        var caseRows: [CaseRow] = []
        var malformed: [MalformedLine] = []
        var citations: [Citation] = []
        var section: Int?
        var inAppendixB = false

        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            let statedHere = line.hasPrefix("- **[") ? SpecDocument.parseRequirement(line, section: nil, line: lineNumber)?.id : nil
            for id in SpecDocument.requirementIDs(in: line) where id != statedHere {
                citations.append(Citation(id: id, line: lineNumber))
            }

            if line.hasPrefix("## ") {
                let heading = line.dropFirst(3)
                section = SpecDocument.sectionNumber(heading)
                inAppendixB = heading.hasPrefix("Appendix B")
                continue
            }

            if line.hasPrefix("- **[") {
                if let requirement = SpecDocument.parseRequirement(line, section: section, line: lineNumber) {
                    requirements.append(requirement)
                } else {
                    malformed.append(MalformedLine(
                        line: lineNumber, text: line,
                        reason: "starts like a requirement but is not `- **[TAG-n]** LEVEL: sentence` or `- **[TAG-n]** retired (LEVEL): sentence`"))
                }
                continue
            }

            if inAppendixB, line.hasPrefix("| `") {
                if let row = SpecDocument.parseCaseRow(line, line: lineNumber) {
                    caseRows.append(row)
                } else {
                    malformed.append(MalformedLine(
                        line: lineNumber, text: line,
                        reason: "Appendix B row is not | `id` | title | level | requirements | needs |"))
                }
            }
        }
        self.requirements = requirements
        self.caseRows = caseRows
        self.malformed = malformed
        self.citations = citations
    }

    /// The tokens of `line` that look like requirement ids: two uppercase ASCII
    /// letters, `-`, digits, not preceded or followed by a letter, digit or `-`.
    static func requirementIDs(in line: String) -> [String] {
        let chars = Array(line.unicodeScalars)
        func isWordy(_ c: Unicode.Scalar) -> Bool {
            (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_")
        }
        var ids: [String] = []
        var i = 0
        while i + 3 < chars.count {
            let upper: ClosedRange<Unicode.Scalar> = "A"..."Z"
            let digits: ClosedRange<Unicode.Scalar> = "0"..."9"
            if upper.contains(chars[i]), upper.contains(chars[i + 1]), chars[i + 2] == "-", digits.contains(chars[i + 3]),
               i == 0 || !isWordy(chars[i - 1]) {
                var j = i + 3
                while j < chars.count, digits.contains(chars[j]) { j += 1 }
                if j == chars.count || !isWordy(chars[j]) {
                    var token = String.UnicodeScalarView()
                    token.append(contentsOf: chars[i..<j])
                    ids.append(String(token))
                }
                i = j
            } else {
                i += 1
            }
        }
        return ids
    }

    /// The number N of a `## N. Title` heading (the text after `## `).
    static func sectionNumber(_ heading: Substring) -> Int? {
        let digits = heading.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, heading.dropFirst(digits.count).hasPrefix(". ") else { return nil }
        return Int(digits)
    }

    /// Whether `id` has the form `TAG-n`: two uppercase ASCII letters, a dash, a
    /// positive decimal number without leading zero.
    public static func isRequirementID(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let tag = parts[0], number = parts[1]
        return tag.count == 2 && tag.allSatisfy { $0.isASCII && $0.isUppercase }
            && !number.isEmpty && number.allSatisfy { $0.isASCII && $0.isNumber } && number.first != "0"
    }

    static func parseRequirement(_ line: String, section: Int?, line lineNumber: Int) -> RequirementLine? {
        var rest = Substring(line).dropFirst("- **[".count)
        guard let close = rest.range(of: "]** ") else { return nil }
        let id = String(rest[..<close.lowerBound])
        guard isRequirementID(id) else { return nil }
        rest = rest[close.upperBound...]
        guard let colon = rest.range(of: ": ") else { return nil }
        var levelWord = rest[..<colon.lowerBound]
        var retired = false
        if levelWord.hasPrefix("retired ("), levelWord.hasSuffix(")") {
            retired = true
            levelWord = levelWord.dropFirst("retired (".count).dropLast()
        }
        guard Catalog.Level(rawValue: String(levelWord)) != nil else { return nil }
        let text = String(rest[colon.upperBound...])
        guard !text.trimmingWhitespace.isEmpty else { return nil }
        return RequirementLine(id: id, levelWord: String(levelWord), text: text, retired: retired, section: section, line: lineNumber)
    }

    static func parseCaseRow(_ line: String, line lineNumber: Int) -> CaseRow? {
        var body = Substring(line)
        guard body.hasPrefix("|"), body.hasSuffix("|") else { return nil }
        body = body.dropFirst().dropLast()
        let cells = body.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingWhitespace }
        guard cells.count == 5 else { return nil }
        let idCell = cells[0]
        guard idCell.count > 2, idCell.hasPrefix("`"), idCell.hasSuffix("`") else { return nil }
        let id = String(idCell.dropFirst().dropLast())

        var levelCell = cells[2]
        var retired = false
        if levelCell.hasPrefix("retired") {
            retired = true
            levelCell = levelCell.dropFirst("retired".count).trimmingWhitespace
            if levelCell.hasPrefix("("), levelCell.hasSuffix(")") {
                levelCell = levelCell.dropFirst().dropLast().trimmingWhitespace
            }
        }
        return CaseRow(
            id: id,
            title: String(cells[1]),
            level: Catalog.Level(rawValue: String(levelCell)),
            retired: retired,
            requirements: list(cells[3]),
            needs: list(cells[4]),
            line: lineNumber)
    }

    /// A comma-separated cell, with `—`, `-` or nothing meaning the empty list.
    static func list(_ cell: Substring) -> [String] {
        if cell.isEmpty || cell == "—" || cell == "-" { return [] }
        return cell.split(separator: ",").map { String($0.trimmingWhitespace.filter { $0 != "`" }) }
    }
}

extension StringProtocol {
    var trimmingWhitespace: Substring {
        let scalars = self[...]
        guard let first = scalars.firstIndex(where: { !$0.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.isWhitespace }) else { return Substring() }
        return Substring(scalars[first...last])
    }
}
