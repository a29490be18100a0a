/// Checks that `gpoll-1.md`, `catalog.json` and, optionally, the case registries
/// of conformance tools agree with each other and with the catalog rules.
public enum CatalogValidator {
    /// One disagreement between the specification text, the catalog and a case registry.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, CaseIterable {
            /// A line in the markdown that looks like a requirement or a case row but is malformed.
            case malformedLine
            /// Two sections with the same number, tag or slug, or a malformed section.
            case badSection
            case duplicateRequirementID
            /// A requirement id that is not `TAG-n`, or whose tag is not its section's.
            case badRequirementID
            /// A requirement or case whose section is not in the catalog's sections.
            case unknownSection
            case duplicateCaseID
            /// A case id not of the form `<slug>/<nnn>`, or whose slug is not its section's.
            case badCaseID
            /// A case, or a citation in the markdown text, naming a requirement that does not exist.
            case unknownRequirement
            /// A MUST or SHOULD requirement that no non-retired case of its own side cites.
            case uncoveredRequirement
            /// A non-retired case that cites a retired requirement.
            case retiredRequirementCited
            /// A retired requirement that the markdown mentions nowhere but in its own
            /// line: the text must say why it was retired and what replaces it.
            case retiredWithoutNote
            /// A client case citing a server requirement, or a server case citing a client one.
            case sideMismatch
            /// A requirement whose level is not the strongest BCP 14 keyword of its sentence.
            case requirementLevelWord
            /// A case whose level differs from its requirements' level, cites several
            /// levels or none, or has the level MAY.
            case levelMismatch
            /// A need outside the vocabulary of Spec section 16.3.
            case unknownNeed
            /// A client case with a need that only a server under test can meet.
            case misplacedNeed
            /// A case with no requirement, a duplicate requirement or need, or an empty title or description.
            case incompleteCase
            case requirementMissingFromCatalog
            case requirementMissingFromMarkdown
            /// A requirement whose level, sentence, section or retirement differs between markdown and catalog.
            case requirementDiffers
            case caseMissingFromCatalog
            case caseMissingFromMarkdown
            /// A case whose Appendix B row differs from its catalog entry.
            case caseDiffers
            /// A registry id that is not in the catalog, is retired there, belongs to the
            /// other side (a client case in a server registry or the reverse), or is listed twice.
            case registryUnknownCase
            /// A non-retired catalog case of the registry's side that the registry lacks.
            case registryMissingCase
        }

        public var kind: Kind
        /// A readable explanation, naming the ids concerned.
        public var message: String

        public init(_ kind: Kind, _ message: String) {
            self.kind = kind
            self.message = message
        }

        public var description: String { "\(kind.rawValue): \(message)" }
    }

    /// Returns every problem found; an empty list means all is consistent.
    ///
    /// - Parameters:
    ///   - markdown: the text of `Spec/gpoll-1.md`.
    ///   - catalog: the decoded `Spec/catalog.json`.
    ///   - registry: the server case ids a conformance tool implements (gpoll-conform), if it should be checked too.
    ///   - clientRegistry: the client case ids a client-conformance tool implements, if it should be checked too.
    public static func validate(markdown: String, catalog: Catalog, registry: [String]? = nil,
                                clientRegistry: [String]? = nil) -> [Problem] {
        var problems: [Problem] = []
        let document = SpecDocument(markdown: markdown)

        for line in document.malformed {
            problems.append(Problem(.malformedLine, "line \(line.line) \(line.reason): \(line.text)"))
        }

        let sectionsByNumber = checkSections(catalog, &problems)
        let requirementsByID = checkRequirements(catalog, document, sections: sectionsByNumber, &problems)
        let casesByID = checkCases(catalog, sections: sectionsByNumber, requirements: requirementsByID, &problems)
        checkCaseRows(catalog, document, cases: casesByID, &problems)

        if let registry {
            checkRegistry(registry, side: .server, catalog: catalog, cases: casesByID, &problems)
        }
        if let clientRegistry {
            checkRegistry(clientRegistry, side: .client, catalog: catalog, cases: casesByID, &problems)
        }
        return problems
    }

    private static func checkSections(_ catalog: Catalog, _ problems: inout [Problem]) -> [Int: Catalog.Section] {
        var sectionsByNumber: [Int: Catalog.Section] = [:]
        var seenTags: Set<String> = [], seenSlugs: Set<String> = []
        for section in catalog.sections {
            if sectionsByNumber[section.number] != nil {
                problems.append(Problem(.badSection, "section number \(section.number) is listed twice"))
            }
            if !seenTags.insert(section.tag).inserted {
                problems.append(Problem(.badSection, "section tag \(section.tag) is listed twice"))
            }
            if !seenSlugs.insert(section.slug).inserted {
                problems.append(Problem(.badSection, "section slug \(section.slug) is listed twice"))
            }
            if !isSlug(section.slug) {
                problems.append(Problem(.badSection, "section \(section.number) has slug \"\(section.slug)\", which is not lowercase letters"))
            }
            sectionsByNumber[section.number] = sectionsByNumber[section.number] ?? section
        }
        return sectionsByNumber
    }

    private static func checkRequirements(_ catalog: Catalog, _ document: SpecDocument, sections: [Int: Catalog.Section],
                                          _ problems: inout [Problem]) -> [String: Catalog.Requirement] {
        // In the catalog.
        var requirementsByID: [String: Catalog.Requirement] = [:]
        for requirement in catalog.requirements {
            if requirementsByID[requirement.id] != nil {
                problems.append(Problem(.duplicateRequirementID, "requirement \(requirement.id) is listed twice in the catalog"))
                continue
            }
            requirementsByID[requirement.id] = requirement
            if !SpecDocument.isRequirementID(requirement.id) {
                problems.append(Problem(.badRequirementID, "requirement id \"\(requirement.id)\" is not of the form TAG-n"))
            }
            if let strongest = strongestKeyword(in: requirement.text), strongest != requirement.level {
                problems.append(Problem(.requirementLevelWord, "requirement \(requirement.id) is \(requirement.level.rawValue) but its strongest keyword is \(strongest.rawValue)"))
            } else if strongestKeyword(in: requirement.text) == nil {
                problems.append(Problem(.requirementLevelWord, "requirement \(requirement.id) has no BCP 14 keyword in capitals"))
            }
            if let section = sections[requirement.section] {
                if !requirement.id.hasPrefix(section.tag + "-") {
                    problems.append(Problem(.badRequirementID, "requirement \(requirement.id) is in section \(section.number), whose tag is \(section.tag)"))
                }
            } else {
                problems.append(Problem(.unknownSection, "requirement \(requirement.id) names section \(requirement.section), which the catalog does not list"))
            }
        }

        // In the markdown, against the catalog.
        var markdownRequirements: [String: SpecDocument.RequirementLine] = [:]
        for line in document.requirements {
            if let first = markdownRequirements[line.id] {
                problems.append(Problem(.duplicateRequirementID, "requirement \(line.id) is stated twice in the markdown (lines \(first.line) and \(line.line))"))
                continue
            }
            markdownRequirements[line.id] = line
            guard let requirement = requirementsByID[line.id] else {
                problems.append(Problem(.requirementMissingFromCatalog, "requirement \(line.id) (markdown line \(line.line)) is not in the catalog"))
                continue
            }
            if line.level != requirement.level {
                problems.append(Problem(.requirementDiffers, "requirement \(line.id) is \(line.levelWord) in the markdown but \(requirement.level.rawValue) in the catalog"))
            }
            if line.text != requirement.text {
                problems.append(Problem(.requirementDiffers, "requirement \(line.id) has a different sentence in the markdown (line \(line.line)) and in the catalog"))
            }
            if line.section != requirement.section {
                let where_ = line.section.map { "section \($0)" } ?? "no numbered section"
                problems.append(Problem(.requirementDiffers, "requirement \(line.id) is in \(where_) of the markdown but section \(requirement.section) in the catalog"))
            }
            if line.retired != requirement.retired {
                let (markdownState, catalogState) = line.retired ? ("retired", "active") : ("active", "retired")
                problems.append(Problem(.requirementDiffers, "requirement \(line.id) is \(markdownState) in the markdown (line \(line.line)) but \(catalogState) in the catalog"))
            }
        }
        let tags = Set(catalog.sections.map(\.tag))
        for citation in document.citations where requirementsByID[citation.id] == nil && markdownRequirements[citation.id] == nil {
            if tags.contains(String(citation.id.prefix(2))) {
                problems.append(Problem(.unknownRequirement, "markdown line \(citation.line) cites \(citation.id), which is not a requirement"))
            }
        }
        for requirement in catalog.requirements where markdownRequirements[requirement.id] == nil {
            problems.append(Problem(.requirementMissingFromMarkdown, "requirement \(requirement.id) is in the catalog but not in the markdown"))
        }
        let cited = Set(document.citations.map(\.id))
        for requirement in catalog.requirements where requirement.retired && !cited.contains(requirement.id) {
            problems.append(Problem(.retiredWithoutNote, "retired requirement \(requirement.id) is mentioned nowhere in the markdown besides its own line; say why it was retired and what replaces it"))
        }
        return requirementsByID
    }

    private static func checkCases(_ catalog: Catalog, sections: [Int: Catalog.Section],
                                   requirements: [String: Catalog.Requirement],
                                   _ problems: inout [Problem]) -> [String: Catalog.Case] {
        var casesByID: [String: Catalog.Case] = [:]
        // Only a citation by an active case of the requirement's own side covers it.
        var coveredBy: [String: [String]] = [:]
        for item in catalog.cases {
            if casesByID[item.id] != nil {
                problems.append(Problem(.duplicateCaseID, "case \(item.id) is listed twice in the catalog"))
                continue
            }
            casesByID[item.id] = item
            problems += checkCase(item, sections: sections, requirements: requirements)
            guard !item.retired else { continue }
            let caseSide = catalog.side(ofSection: item.section)
            for id in item.requirements {
                if let requirement = requirements[id], !requirement.retired,
                   catalog.side(ofSection: requirement.section) == caseSide {
                    coveredBy[id, default: []].append(item.id)
                }
            }
        }
        for requirement in catalog.requirements
        where !requirement.retired && requirement.level != .may && coveredBy[requirement.id] == nil {
            let side = catalog.side(ofSection: requirement.section)
            problems.append(Problem(.uncoveredRequirement, "\(requirement.level.rawValue) requirement \(requirement.id) is checked by no \(side.rawValue) case"))
        }
        return casesByID
    }

    private static func checkCaseRows(_ catalog: Catalog, _ document: SpecDocument, cases: [String: Catalog.Case],
                                      _ problems: inout [Problem]) {
        var rowsByID: [String: SpecDocument.CaseRow] = [:]
        for row in document.caseRows {
            if rowsByID[row.id] != nil {
                problems.append(Problem(.duplicateCaseID, "case \(row.id) is listed twice in Appendix B"))
                continue
            }
            rowsByID[row.id] = row
            guard let item = cases[row.id] else {
                problems.append(Problem(.caseMissingFromCatalog, "case \(row.id) (Appendix B, line \(row.line)) is not in the catalog"))
                continue
            }
            var differences: [String] = []
            if row.title != item.title { differences.append("title") }
            if row.level != item.level { differences.append("level") }
            if row.retired != item.retired { differences.append("retired") }
            if row.requirements != item.requirements { differences.append("requirements") }
            if row.needs != item.needs.map(\.rawValue) { differences.append("needs") }
            if !differences.isEmpty {
                problems.append(Problem(.caseDiffers, "case \(row.id) differs between Appendix B (line \(row.line)) and the catalog in: \(differences.joined(separator: ", "))"))
            }
        }
        for item in catalog.cases where rowsByID[item.id] == nil {
            problems.append(Problem(.caseMissingFromMarkdown, "case \(item.id) is in the catalog but not in Appendix B"))
        }
    }

    /// A registry holds the cases of one side: gpoll-conform's the server cases,
    /// a client-conformance tool's the client cases.
    private static func checkRegistry(_ registry: [String], side: Catalog.Side, catalog: Catalog,
                                      cases: [String: Catalog.Case], _ problems: inout [Problem]) {
        let name = side == .server ? "the registry" : "the client registry"
        var seen: Set<String> = []
        for id in registry {
            if !seen.insert(id).inserted {
                problems.append(Problem(.registryUnknownCase, "\(name) lists case \(id) twice"))
            } else if let item = cases[id] {
                if item.retired {
                    problems.append(Problem(.registryUnknownCase, "\(name) implements case \(id), which the catalog retired"))
                } else if catalog.side(ofSection: item.section) != side {
                    problems.append(Problem(.registryUnknownCase, "\(name) implements case \(id), which is not a \(side.rawValue) case"))
                }
            } else {
                problems.append(Problem(.registryUnknownCase, "\(name) implements case \(id), which is not in the catalog"))
            }
        }
        for item in catalog.activeCases(on: side) where !seen.contains(item.id) {
            problems.append(Problem(.registryMissingCase, "case \(item.id) is in the catalog but \(name) does not implement it"))
        }
    }

    static func checkCase(_ item: Catalog.Case, sections: [Int: Catalog.Section],
                          requirements: [String: Catalog.Requirement]) -> [Problem] {
        var problems: [Problem] = []
        let id = item.id
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count != 2 || !isSlug(parts[0]) || parts[1].count != 3
            || !parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) || parts[1] == "000" {
            problems.append(Problem(.badCaseID, "case id \"\(id)\" is not of the form <slug>/<nnn> (nnn from 001)"))
        } else if let section = sections[item.section] {
            if section.slug != String(parts[0]) {
                problems.append(Problem(.badCaseID, "case \(id) is in section \(item.section), whose slug is \(section.slug)"))
            }
        }
        if sections[item.section] == nil {
            problems.append(Problem(.unknownSection, "case \(id) names section \(item.section), which the catalog does not list"))
        }
        let caseSide = sections[item.section]?.side ?? .server
        if item.title.trimmingWhitespace.isEmpty || item.description.trimmingWhitespace.isEmpty {
            problems.append(Problem(.incompleteCase, "case \(id) has an empty title or description"))
        }
        if item.requirements.isEmpty {
            problems.append(Problem(.incompleteCase, "case \(id) cites no requirement"))
        }
        if Set(item.requirements).count != item.requirements.count {
            problems.append(Problem(.incompleteCase, "case \(id) cites a requirement twice"))
        }
        if Set(item.needs).count != item.needs.count {
            problems.append(Problem(.incompleteCase, "case \(id) names a need twice"))
        }
        for need in item.needs {
            if !need.isKnown {
                let vocabulary = (Catalog.Need.known.map(\.rawValue) + ["client-buffer>=N"]).joined(separator: ", ")
                problems.append(Problem(.unknownNeed, "case \(id) needs \"\(need.rawValue)\", which is not one of: \(vocabulary)"))
            } else if caseSide == .client && !Catalog.Need.clientSide.contains(need) {
                let allowed = Catalog.Need.clientSide.map(\.rawValue).joined(separator: ", ")
                problems.append(Problem(.misplacedNeed, "client case \(id) needs \"\(need.rawValue)\", which only a server under test can meet; a client case may need: \(allowed)"))
            }
        }
        if item.level == .may {
            problems.append(Problem(.levelMismatch, "case \(id) has level MAY; a case is MUST or SHOULD"))
        }
        var levels: Set<Catalog.Level> = []
        for requirementID in item.requirements {
            guard let requirement = requirements[requirementID] else {
                // A retired case may cite a requirement a later version withdrew.
                if !item.retired {
                    problems.append(Problem(.unknownRequirement, "case \(id) cites \(requirementID), which is not a requirement"))
                }
                continue
            }
            if requirement.retired && !item.retired {
                problems.append(Problem(.retiredRequirementCited, "case \(id) cites \(requirementID), which is retired; cite its replacement"))
            }
            let requirementSide = sections[requirement.section]?.side ?? .server
            if requirementSide != caseSide && !item.retired {
                problems.append(Problem(.sideMismatch, "\(caseSide.rawValue) case \(id) cites \(requirementID), a \(requirementSide.rawValue) requirement"))
            }
            levels.insert(requirement.level)
            if requirement.level != item.level {
                problems.append(Problem(.levelMismatch, "case \(id) is \(item.level.rawValue) but cites \(requirementID), a \(requirement.level.rawValue) requirement"))
            }
        }
        if levels.count > 1 {
            let names = Catalog.Level.allCases.filter(levels.contains).map(\.rawValue).joined(separator: " and ")
            problems.append(Problem(.levelMismatch, "case \(id) cites requirements of several levels (\(names)); a case checks one level"))
        }
        return problems
    }

    /// The level of the strongest BCP 14 keyword written in capitals as a word of
    /// `sentence` (MUST, REQUIRED, SHALL > SHOULD, RECOMMENDED > MAY, OPTIONAL).
    static func strongestKeyword(in sentence: String) -> Catalog.Level? {
        let words = sentence.split { !($0.isLetter && $0.isASCII) }
        if words.contains(where: { ["MUST", "REQUIRED", "SHALL"].contains($0) }) { return .must }
        if words.contains(where: { ["SHOULD", "RECOMMENDED"].contains($0) }) { return .should }
        if words.contains(where: { ["MAY", "OPTIONAL"].contains($0) }) { return .may }
        return nil
    }

    static func isSlug<S: StringProtocol>(_ slug: S) -> Bool {
        !slug.isEmpty && slug.allSatisfy { $0.isASCII && $0.isLowercase }
    }
}
