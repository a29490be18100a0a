import GPollSpec

extension CatalogView {
    /// The catalog built into this binary (GPollSpec's embedded copy of Spec/catalog.json),
    /// so gpoll-conform needs no files at run time.
    public static let embedded = CatalogView(EmbeddedCatalog.catalog)

    public init(_ catalog: Catalog) {
        self.init(
            spec: catalog.spec,
            specVersion: catalog.specVersion,
            sections: catalog.sections.map { Section(number: String($0.number), tag: $0.tag, slug: $0.slug, title: $0.title) },
            requirements: catalog.requirements.map {
                Requirement(id: $0.id, section: String($0.section), level: Level(rawValue: $0.level.rawValue) ?? .must, text: $0.text)
            },
            // The server cases only: client cases (section 19) are for a client mode.
            cases: catalog.cases.filter { catalog.side(ofSection: $0.section) == .server }.map { entry in
                Case(id: entry.id, title: entry.title, section: String(entry.section),
                     level: Level(rawValue: entry.level.rawValue) ?? .must, requirements: entry.requirements,
                     // An unknown need cannot be met by any option: keep the case, skip it.
                     needs: entry.needs.compactMap { CatalogView.Need(rawValue: $0.rawValue) },
                     unknownNeeds: entry.needs.filter { CatalogView.Need(rawValue: $0.rawValue) == nil }.map(\.rawValue),
                     description: entry.description, retired: entry.retired)
            })
    }
}
