import Foundation
import GPollSpec
import GPollWire

/// `--html FILE`: the run as one self-contained page (inline CSS, no script, no
/// external resource, so it opens offline and from a CI artifact as is).
///
/// First a table of outcomes by Spec section, then every case, failures first
/// (FAIL, FLAKY, ERROR, WARN, then PASS and SKIP; catalog order within each), with
/// the text of its requirements from the catalog, expected against actual, and its
/// transcript (folded for passing cases). Everything that comes from the server or
/// the command line is escaped.
///
/// The page is made to be read by tools too: the summary table is `#summary`, its
/// cells carry `data-section` and `data-outcome`, the totals row is `#summary-total`,
/// and every case is an `li.case` with `data-case` and `data-outcome`.
public enum HTMLReport {
    /// Outcomes in the order of the page: what needs attention first.
    static let order: [Outcome] = [.fail, .flaky, .error, .warn, .pass, .skip]

    public static func page(results: [CaseResult], catalog: Catalog, run: RunInfo) -> String {
        let summary = Summary(results)
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>gpoll-conform: \(escape(run.target))</title>
            <style>\(style)</style>
            </head>
            <body>
            <header>
            <h1>gpoll-conform report</h1>
            <p id="verdict" class="\(summary.exitCode == 0 ? "good" : "bad")">\(summary.exitCode == 0 ? "Conformant for the cases run" : "Not conformant"): \(escape(summary.counts))</p>
            <dl class="run">
            <dt>target</dt><dd>\(escape(run.target))</dd>
            <dt>specification</dt><dd>\(escape(run.spec)) \(escape(run.specVersion))</dd>
            <dt>tester</dt><dd>\(escape(run.tool)) \(escape(run.toolVersion))</dd>
            <dt>started</dt><dd>\(escape(ISO8601DateFormatter().string(from: run.started)))</dd>
            <dt>duration</dt><dd>\(String(format: "%.1f", run.seconds)) s</dd>
            <dt>options</dt><dd>\(escape(run.options.joined(separator: " ")))</dd>

            """
        if let repeats = run.repeatCount { html += "<dt>runs</dt><dd>\(repeats) (--repeat)</dd>\n" }
        html += "</dl>\n</header>\n<main>\n"
        html += summaryTable(results, catalog: catalog)
        html += "<h2>Cases</h2>\n<ol id=\"cases\">\n"
        let ranked = results.enumerated().sorted { a, b in
            let (ra, rb) = (order.firstIndex(of: a.element.outcome) ?? order.count, order.firstIndex(of: b.element.outcome) ?? order.count)
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
        for result in ranked { html += caseItem(result, catalog: catalog) }
        html += "</ol>\n</main>\n</body>\n</html>\n"
        return html
    }

    static func summaryTable(_ results: [CaseResult], catalog: Catalog) -> String {
        var sectionOrder = catalog.sections.map(\.number)
        for result in results where !sectionOrder.contains(result.section) { sectionOrder.append(result.section) }
        var html = "<h2>Summary</h2>\n<table id=\"summary\">\n<thead><tr><th>section</th>"
        for outcome in order { html += "<th class=\"\(cssClass(outcome))\">\(outcome.rawValue)</th>" }
        html += "<th>cases</th></tr></thead>\n<tbody>\n"
        func cells(_ members: [CaseResult], section: Int?) -> String {
            var row = ""
            for outcome in order {
                let count = members.filter { $0.outcome == outcome }.count
                let attribute = section.map { " data-section=\"\($0)\"" } ?? ""
                row += "<td\(attribute) data-outcome=\"\(outcome.rawValue)\" class=\"\(count > 0 ? cssClass(outcome) : "zero")\">\(count)</td>"
            }
            return row + "<td data-outcome=\"all\">\(members.count)</td>"
        }
        for number in sectionOrder {
            let members = results.filter { $0.section == number }
            guard !members.isEmpty else { continue }
            let title = catalog.section(number: number).map { "\($0.number) \($0.title)" } ?? "section \(number)"
            html += "<tr data-section=\"\(number)\"><th>\(escape(title))</th>\(cells(members, section: number))</tr>\n"
        }
        html += "</tbody>\n<tfoot><tr id=\"summary-total\"><th>all sections</th>\(cells(results, section: nil))</tr></tfoot>\n</table>\n"
        return html
    }

    static func caseItem(_ result: CaseResult, catalog: Catalog) -> String {
        let anchor = "case-" + result.id.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        var html = "<li class=\"case \(cssClass(result.outcome))\" id=\"\(escape(anchor))\" data-case=\"\(escape(result.id))\" data-outcome=\"\(result.outcome.rawValue)\">\n"
        html += "<h3><span class=\"badge\">\(result.outcome.rawValue)</span> <a href=\"#\(escape(anchor))\">\(escape(result.id))</a> \(escape(result.title))</h3>\n"
        var meta = [result.level.rawValue, catalog.section(number: result.section).map { "§\($0.number) \($0.title)" } ?? "§\(result.section)"]
        if result.outcome != .skip { meta.append(String(format: result.runs == nil ? "%.2f s" : "%.2f s mean", result.seconds)) }
        if let runs = result.runs { meta.append("runs: \(runs.description)") }
        if let lane = result.lane { meta.append("lane \(lane)") }
        if let endpoint = result.endpoint { meta.append(endpoint) }
        html += "<p class=\"meta\">\(meta.map(escape).joined(separator: " · "))</p>\n"
        let requirements = result.requirements.compactMap { catalog.requirement($0) }
        if !requirements.isEmpty {
            html += "<ul class=\"requirements\">\n"
            for requirement in requirements {
                html += "<li><b>\(escape(requirement.id))</b> <span class=\"level\">\(requirement.level.rawValue)</span>: \(escape(requirement.text))</li>\n"
            }
            html += "</ul>\n"
        }
        if result.outcome == .flaky { html += "<p class=\"note\">A run that did not pass:</p>\n" }
        if let reason = result.reason { html += "<p class=\"reason\"><b>reason:</b> \(escape(reason))</p>\n" }
        if let finding = result.finding {
            html += "<table class=\"finding\">\n"
            if let id = finding.requirement {
                let text = catalog.requirement(id).map { "\($0.level.rawValue): \($0.text)" } ?? finding.level.rawValue
                html += "<tr><th>requirement</th><td><b>\(escape(id))</b> \(escape(text))</td></tr>\n"
            }
            html += "<tr><th>expected</th><td class=\"expected\">\(escape(finding.expected))</td></tr>\n"
            html += "<tr><th>actual</th><td class=\"actual\">\(escape(finding.actual))</td></tr>\n</table>\n"
        }
        if !result.transcript.isEmpty {
            let open = [.pass, .skip].contains(result.outcome) ? "" : " open"
            html += "<details class=\"transcript\"\(open)><summary>transcript (\(result.transcript.count) entries)</summary>\n"
            html += "<pre>\(escape(ConsoleReport.render(result.transcript, indent: "")))</pre>\n</details>\n"
        }
        return html + "</li>\n"
    }

    static func cssClass(_ outcome: Outcome) -> String { "outcome-" + outcome.rawValue.lowercased() }

    /// Text for HTML content and attribute values: markup characters as entities,
    /// C0 controls (other than tab and line breaks) and DEL as visible `\xHH`, since a
    /// browser would drop or replace them.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0xFFFE...0xFFFF).contains(scalar.value):
                out += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static let style = """
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1b1b1b;background:#fff}
        h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1rem;margin:0 0 .3rem}
        #verdict{font-weight:600;padding:.4rem .7rem;border-radius:4px;display:inline-block}
        #verdict.good{background:#e3f4e1}#verdict.bad{background:#fbe0de}
        dl.run{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.6rem 0}dl.run dt{color:#666}dl.run dd{margin:0;word-break:break-all}
        table{border-collapse:collapse}#summary th,#summary td{border:1px solid #ddd;padding:.2rem .6rem;text-align:right}#summary th:first-child{text-align:left}
        #summary tfoot{font-weight:600}td.zero{color:#bbb}
        ol#cases{list-style:none;padding:0}li.case{border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;margin:.6rem 0;padding:.5rem .8rem}
        .badge{display:inline-block;min-width:3.5rem;text-align:center;font-size:.8rem;padding:0 .3rem;border-radius:3px;color:#fff;background:#777}
        .outcome-fail{border-left-color:#c62828}.outcome-fail .badge,th.outcome-fail,td.outcome-fail{background:#c62828;color:#fff}
        .outcome-flaky{border-left-color:#8e24aa}.outcome-flaky .badge,th.outcome-flaky,td.outcome-flaky{background:#8e24aa;color:#fff}
        .outcome-error{border-left-color:#e65100}.outcome-error .badge,th.outcome-error,td.outcome-error{background:#e65100;color:#fff}
        .outcome-warn{border-left-color:#f9a825}.outcome-warn .badge,th.outcome-warn,td.outcome-warn{background:#f9a825;color:#000}
        .outcome-pass{border-left-color:#2e7d32}.outcome-pass .badge,th.outcome-pass,td.outcome-pass{background:#2e7d32;color:#fff}
        .outcome-skip .badge,th.outcome-skip,td.outcome-skip{background:#9e9e9e;color:#fff}
        .meta{color:#666;font-size:.85rem;margin:.1rem 0}ul.requirements{margin:.3rem 0;padding-left:1.2rem}.level{font-size:.8rem;color:#555}
        table.finding th{text-align:left;vertical-align:top;padding:.1rem .8rem .1rem 0;color:#555;font-weight:500}
        table.finding td.expected,table.finding td.actual{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;word-break:break-all}
        pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap;word-break:break-all}
        summary{cursor:pointer;color:#444}
        @media print{details{display:block}li.case{break-inside:avoid}}
        """
}
