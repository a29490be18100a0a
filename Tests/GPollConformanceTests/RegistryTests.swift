import Foundation
@testable import GPollConformance
import GPollSpec
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite struct RegistryTests {
    @Test func registryIsExactlyTheCatalog() throws {
        let markdown = try String(contentsOf: root.appendingPathComponent("Spec/gpoll-1.md"), encoding: .utf8)
        // The client registry stays nil (unchecked): gpoll-conform implements no client
        // case yet, and an empty list would report each of them as missing.
        let problems = CatalogValidator.validate(markdown: markdown, catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.ids,
                                                 clientRegistry: nil)
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func validatorNoticesAMissingAndAnUnknownCase() throws {
        let markdown = try String(contentsOf: root.appendingPathComponent("Spec/gpoll-1.md"), encoding: .utf8)
        var ids = CaseRegistry.ids
        ids.removeFirst()
        ids.append("handshake/999")
        let kinds = Set(CatalogValidator.validate(markdown: markdown, catalog: EmbeddedCatalog.catalog, registry: ids).map(\.kind))
        #expect(kinds.contains(.registryMissingCase))
        #expect(kinds.contains(.registryUnknownCase))
    }

    /// Section 19's client cases are for a client mode: the server tester neither
    /// plans nor lists them, and a pattern that only they match selects nothing.
    @Test func clientCasesAreLeftOut() throws {
        let catalog = EmbeddedCatalog.catalog
        #expect(!catalog.activeCases(on: .client).isEmpty, "the catalog has client cases to leave out")
        let runner = ConformanceRunner(catalog: catalog, registry: CaseRegistry.all,
                                       settings: try RunOptions(pollURL: "http://127.0.0.1:1/poll").settings())
        #expect(runner.plan(CaseSelection()).map(\.entry.id) == catalog.activeCases(on: .server).map(\.id))
        let listing = CatalogListing(catalog, selection: CaseSelection())
        #expect(!listing.cases.isEmpty && listing.cases.allSatisfy { catalog.side(ofSection: $0.section) == .server })
        var options = RunOptions(pollURL: "http://127.0.0.1:1/poll")
        options.cases = ["client/*"]
        #expect(throws: UsageError.self) { try options.selection(in: catalog) }
    }

    @Test func registryIdsAreUnique() {
        #expect(Set(CaseRegistry.ids).count == CaseRegistry.ids.count)
    }
}

@Suite struct GlobTests {
    @Test(arguments: [
        ("handshake/*", "handshake/001", true), ("handshake/*", "handshakes/001", false),
        ("*", "poll/003", true), ("*/00?", "poll/003", true), ("*/00?", "poll/0031", false),
        ("notfound/01[0-2]", "notfound/011", true), ("notfound/01[0-2]", "notfound/013", false),
        ("notfound/01[!0-2]", "notfound/013", true), ("poll/001", "poll/001", true), ("poll/001", "poll/0011", false),
        ("*timeout*", "timeout/001", true), ("h*k*/0*7", "handshake/007", true),
    ])
    func matches(_ pattern: String, _ id: String, _ expected: Bool) throws {
        #expect(try Glob(pattern).matches(id) == expected)
    }

    @Test func badPatterns() {
        #expect(throws: Glob.ParseError.self) { try Glob("") }
        #expect(throws: Glob.ParseError.self) { try Glob("poll/[01") }
    }

    @Test func selectionIncludesThenExcludes() throws {
        let selection = CaseSelection(include: [try Glob("poll/*")], exclude: [try Glob("poll/003")])
        #expect(selection.selects("poll/001"))
        #expect(!selection.selects("poll/003"))
        #expect(!selection.selects("handshake/001"))
        #expect(selection.unmatched(in: ["poll/001"]).map(\.pattern) == ["poll/003"])
    }
}

@Suite struct OptionTests {
    @Test func goodOptions() throws {
        var options = RunOptions(pollURL: "http://127.0.0.1:8080/poll?app=1")
        options.publishURL = "http://127.0.0.1:8081/publish"
        options.publishHeaders = ["Authorization: Bearer x y"]
        options.pollTimeout = 2.5
        options.settleMs = 0
        let settings = try options.settings()
        #expect(settings.pollURL.port == 8080)
        #expect(settings.pollURL.query == "app=1")
        #expect(String(decoding: settings.pollURL.target(clientID: Array("0".utf8)), as: UTF8.self) == "/poll?app=1&client-id=0")
        #expect(settings.publishHeaders.first! == ("Authorization", "Bearer x y"))
        #expect(settings.pollTimeout == .milliseconds(2500))
        #expect(settings.unmetNeed([.publish, .pollTimeout]) == nil)
        #expect(settings.unmetNeed([.idleExpiry]) == "needs --idle-expiry")
    }

    @Test(arguments: [
        { (o: inout RunOptions) in o.pollURL = "ftp://x/poll" },
        { (o: inout RunOptions) in o.pollURL = "not a url" },
        { (o: inout RunOptions) in o.pollURL = "http:///poll" },
        { (o: inout RunOptions) in o.publishURL = "127.0.0.1:8081" },
        { (o: inout RunOptions) in o.publishHeaders = ["NoColon"] },
        { (o: inout RunOptions) in o.publishURL = "http://h/p"; o.publishHeaders = ["Bad Name: v"] },
        { (o: inout RunOptions) in o.clientBuffer = 0 },
        { (o: inout RunOptions) in o.pollTimeout = -1 },
        { (o: inout RunOptions) in o.timeout = 0 },
        { (o: inout RunOptions) in o.settleMs = -5 },
        { (o: inout RunOptions) in o.maxClients = 0 },
        { (o: inout RunOptions) in o.caCert = "/nonexistent/ca.pem" },
        { (o: inout RunOptions) in o.secondPublishURL = "http://h/p2" },
    ] as [@Sendable (inout RunOptions) -> Void])
    func badOptions(_ mutate: @Sendable (inout RunOptions) -> Void) {
        var options = RunOptions(pollURL: "http://127.0.0.1:8080/poll")
        mutate(&options)
        #expect(throws: UsageError.self) { try options.settings() }
    }

    @Test func casesThatSitOutTOrEGetRoomForIt() throws {
        var options = RunOptions(pollURL: "http://127.0.0.1:8080/poll")
        options.timeout = 10
        options.pollTimeout = 30
        options.idleExpiry = 5
        let settings = try options.settings()
        #expect(settings.timeLimit(for: [.publish]) == .seconds(10))
        #expect(settings.timeLimit(for: [.pollTimeout]) == .seconds(10 + 2 * 31))
        #expect(settings.timeLimit(for: [.idleExpiry, .publish]) == .seconds(10 + 2 * 6))
    }

    @Test func patternsThatMatchNothingAreRefused() {
        var options = RunOptions(pollURL: "http://127.0.0.1:8080/poll")
        options.cases = ["handshake/*"]
        #expect((try? options.selection(in: EmbeddedCatalog.catalog)) != nil)
        options.excludes = ["hanshake/*"]
        #expect(throws: UsageError.self) { try options.selection(in: EmbeddedCatalog.catalog) }
    }

    @Test func summaryLineAndExitCode() {
        func result(_ outcome: Outcome) -> CaseResult {
            CaseResult(id: "x", title: "t", section: 5, level: .must, requirements: [], outcome: outcome)
        }
        let mixed = Summary([.pass, .pass, .warn, .skip].map(result))
        #expect(mixed.line == "gpoll-conform: 2 passed, 0 failed, 1 warned, 1 skipped, 0 errors")
        #expect(mixed.exitCode == 0)
        #expect(Summary([.pass, .fail].map(result)).exitCode == 1)
        #expect(Summary([.pass, .error].map(result)).exitCode == 1)
        #expect(Summary([]).exitCode == 0)
    }
}
