/// Text for a terminal or a CI log: one line per case as it ends, details for every
/// FAIL, WARN, FLAKY and ERROR (and every case with --verbose), then the summary line.
/// With --repeat, each run ends with one count line and the cases' lines come after
/// the last run, each with its counts (`FLAKY poll/001 ... (0.21s mean; 3 pass, 2 fail)`).
public enum ConsoleReport {
    public static func line(_ result: CaseResult, catalog: Catalog, verbose: Bool) -> String {
        let time = String(format: "%.2fs", result.seconds)
        var text = "\(result.outcome.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(result.id) \(result.title)"
        if let runs = result.runs, result.outcome != .skip {
            // --repeat: the mean time and how the runs ended.
            text += " (\(time) mean; \(runs.description))"
        } else if result.outcome != .skip {
            text += " (\(time))"
        }
        if result.outcome == .flaky { text += "\n      a run that did not pass:" }
        if let reason = result.reason { text += "\n      reason: \(reason)" }
        if let finding = result.finding { text += "\n" + describe(finding, catalog: catalog, indent: "      ") }
        let showTranscript = verbose ? result.outcome != .skip : [.fail, .warn, .flaky, .error].contains(result.outcome)
        if showTranscript && !result.transcript.isEmpty {
            text += "\n      transcript:\n" + render(result.transcript, indent: "        ")
        }
        return text
    }

    /// The requirement id with its sentence from the catalog, then expected against actual.
    static func describe(_ finding: Finding, catalog: Catalog, indent: String) -> String {
        var lines: [String] = []
        if let id = finding.requirement {
            let sentence = catalog.requirement(id).map { "\($0.level.rawValue): \($0.text)" } ?? finding.level.rawValue
            lines.append("\(indent)[\(id)] \(sentence)")
        }
        lines.append("\(indent)expected: \(finding.expected)")
        lines.append("\(indent)actual:   \(finding.actual)")
        return lines.joined(separator: "\n")
    }

    static func render(_ entries: [Transcript.Entry], indent: String) -> String {
        entries.map { entry in
            let head = "\(indent)+\(entry.milliseconds)ms \(entry.connection) \(entry.direction) "
            let pad = String(repeating: " ", count: head.count)
            return entry.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .map { ($0.offset == 0 ? head : pad) + $0.element }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

import Foundation
import GPollSpec
import GPollWire
