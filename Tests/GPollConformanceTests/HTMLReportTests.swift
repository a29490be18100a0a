import Foundation
@testable import GPollConformance
import GPollSpec
import GPollTestSupport
import Testing

/// --html: the page as headless Chromium (Debian's `chromium`; CI installs it)
/// builds it: the summary counts, a failing case with its requirement text and
/// transcript, failures first, hostile text escaped, nothing loaded from outside.
@Suite struct HTMLReportTests {
    /// The DOM Chromium made of the file, or nil (with an issue recorded) without Chromium.
    static func dom(of path: String) async throws -> String? {
        guard let chromium = Program.find("chromium") ?? Program.find("chromium-browser") else {
            Issue.record("chromium is not installed: `apt-get install chromium` (.ci/run installs it); the HTML report test loads the page in it")
            return nil
        }
        let profile = try ScratchDirectory()
        defer { profile.remove() }
        let run = try await Program.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                                    "--user-data-dir=\(profile.path)", "--dump-dom", "file://\(path)"],
                                         timeout: .seconds(90))
        #expect(!run.timedOut, "chromium did not finish within 90 s")
        #expect(run.status == .exited(0), "chromium failed: \(run.stderr.suffix(1000))")
        #expect(run.stdout.contains("</html>"), "chromium printed no DOM: \(run.stderr.suffix(1000))")
        return run.status == .exited(0) ? run.stdout : nil
    }

    /// `(data-case, data-outcome)` of every case item, in page order.
    static func caseItems(_ dom: String) -> [(id: String, outcome: String)] {
        let pattern = #/<li class="case [^"]*" id="[^"]*" data-case="([^"]*)" data-outcome="([A-Z]+)">/#
        return dom.matches(of: pattern).map { (String($0.output.1), String($0.output.2)) }
    }

    /// The count in the cell of `row` (a `<tr ...>` start) for `outcome`.
    static func count(in dom: String, rowStart: String, outcome: String) -> Int? {
        guard let row = dom.range(of: rowStart) else { return nil }
        let rest = dom[row.upperBound...]
        let end = rest.range(of: "</tr>")?.lowerBound ?? rest.endIndex
        let cells = rest[..<end]
        guard let match = cells.firstMatch(of: try! Regex("data-outcome=\"\(outcome)\"[^>]*>([0-9]+)<")) else { return nil }
        return Int(match.output[1].substring ?? "")
    }

    @Test func chromiumShowsSummaryFailuresFirstWithRequirementAndTranscript() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = try await CommandLineRun.withServer([.handshakeNotJSON]) { server in
            var options = CommandLineRun.options(for: server, cases: ["handshake/*", "transport/00[45]", "limits/007"])
            options.html = scratch.file("report.html")
            options.json = scratch.file("report.json")
            return await CommandLineRun.run(options)
        }
        #expect(run.exitCode == 1, "\(run.text)")
        let report = try JSONDecoder.iso8601.decode(JSONReport.self, from: Data(contentsOf: URL(fileURLWithPath: scratch.file("report.json"))))
        let results = report.results
        #expect(results.contains { $0.outcome == .fail } && results.contains { $0.outcome == .pass } && results.contains { $0.outcome == .skip },
                "the run should have FAIL, PASS and SKIP: \(results.map { "\($0.id) \($0.outcome)" })")
        let page = try String(contentsOfFile: scratch.file("report.html"), encoding: .utf8)
        #expect(page.firstMatch(of: #/<(script|link|img|iframe)\b|\b(src|href)="(?!#)/#) == nil, "the page loads nothing from outside")
        guard let dom = try await Self.dom(of: scratch.file("report.html")) else { return }

        // Summary: the totals row and each section's row agree with the results.
        for outcome in Outcome.allCases {
            let expected = results.filter { $0.outcome == outcome }.count
            #expect(Self.count(in: dom, rowStart: "<tr id=\"summary-total\">", outcome: outcome.rawValue) == expected, "total \(outcome)")
            for section in Set(results.map(\.section)) {
                let inSection = results.filter { $0.section == section && $0.outcome == outcome }.count
                #expect(Self.count(in: dom, rowStart: "<tr data-section=\"\(section)\">", outcome: outcome.rawValue) == inSection,
                        "section \(section), \(outcome)")
            }
        }

        // Every case, failures first.
        let items = Self.caseItems(dom)
        #expect(items.map(\.id).sorted() == results.map(\.id).sorted())
        let firstPass = items.firstIndex { $0.outcome == "PASS" || $0.outcome == "SKIP" } ?? items.count
        #expect(items[..<firstPass].allSatisfy { ["FAIL", "FLAKY", "ERROR", "WARN"].contains($0.outcome) }, "\(items)")
        #expect(items[firstPass...].allSatisfy { $0.outcome == "PASS" || $0.outcome == "SKIP" }, "\(items)")
        #expect(items.first?.outcome == "FAIL")

        // A failing case: its requirement text from the catalog, expected/actual, its transcript.
        let failing = try #require(results.first { $0.id == "handshake/002" && $0.outcome == .fail }, "handshake/002 should FAIL")
        let start = try #require(dom.range(of: "data-case=\"handshake/002\""))
        let rest = dom[start.upperBound...]
        let item = String(rest[..<(rest.range(of: "data-case=")?.lowerBound ?? rest.endIndex)])
        let requirement = try #require(EmbeddedCatalog.catalog.requirement("HS-1"))
        #expect(item.contains(HTMLEscaped(requirement.text).text), "requirement text of HS-1 in:\n\(item.prefix(3000))")
        #expect(item.contains("class=\"expected\""), "expected against actual")
        #expect(item.contains("GET /poll?client-id=0"), "the transcript")
        #expect(failing.finding != nil)
    }

    /// Text from the wire and the command line is escaped: Chromium builds no element
    /// from it, and shows it as text.
    @Test func hostileTextStaysText() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let page = HTMLReport.page(results: JUnitOutputTests.results(), catalog: EmbeddedCatalog.catalog, run: JUnitOutputTests.info)
        try Data(page.utf8).write(to: URL(fileURLWithPath: scratch.file("hostile.html")))
        #expect(!page.contains("<friends>"))
        guard let dom = try await Self.dom(of: scratch.file("hostile.html")) else { return }
        #expect(!dom.contains("<friends>"), "the title made an element")
        #expect(dom.contains("Handshake &amp; &lt;friends&gt;"))
        #expect(dom.contains("]]&gt;&lt;&amp;&gt;"), "the transcript's markup characters are text")
        #expect(Self.caseItems(dom).count == JUnitOutputTests.results().count)
    }
}

/// How the page writes text (and Chromium serialises it back): `&`, `<`, `>` as entities.
struct HTMLEscaped {
    let text: String
    init(_ raw: String) {
        text = raw.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
