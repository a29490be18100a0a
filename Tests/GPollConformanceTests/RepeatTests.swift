import Foundation
@testable import GPollConformance
import GPollSpec
import JUnitXML
import Testing

/// --repeat: merging runs into one outcome, FLAKY in every report, and the exit code.
@Suite struct RepeatTests {
    static func result(_ outcome: Outcome, level: Catalog.Level = .must, seconds: Double = 0.1) -> CaseResult {
        let finding = outcome == .fail || outcome == .warn
            ? Finding(requirement: "HS-1", level: level, expected: "JSON", actual: "run \(outcome.rawValue)") : nil
        return CaseResult(id: "handshake/002", title: "t", section: 5, level: level, requirements: ["HS-1"], outcome: outcome,
                          reason: outcome == .error ? "timed out" : nil, finding: finding, seconds: seconds)
    }

    @Test func runsThatAgreeKeepTheirOutcome() {
        for outcome in [Outcome.pass, .fail, .warn, .error, .skip] {
            let merged = CaseResult.merged([Self.result(outcome), Self.result(outcome), Self.result(outcome)])
            #expect(merged.outcome == outcome)
            #expect(merged.runs?.total == 3)
        }
    }

    @Test func passAndNotPassIsFlakyWithTheBadRunsDetails() {
        let merged = CaseResult.merged([Self.result(.pass), Self.result(.fail), Self.result(.pass), Self.result(.fail), Self.result(.pass)])
        #expect(merged.outcome == .flaky)
        #expect(merged.runs == { var t = RunTally(); t.pass = 3; t.fail = 2; return t }())
        #expect(merged.runs?.description == "3 pass, 2 fail")
        #expect(merged.finding?.actual == "run FAIL")
        #expect(merged.failsRun)
    }

    @Test func flakyFailsTheRunOnlyWhenARunFailedOrErred() {
        let warnOnly = CaseResult.merged([Self.result(.pass), Self.result(.warn, level: .should)])
        #expect(warnOnly.outcome == .flaky)
        #expect(!warnOnly.failsRun)
        #expect(Summary([warnOnly]).exitCode == 0)
        let withError = CaseResult.merged([Self.result(.pass), Self.result(.error)])
        #expect(withError.outcome == .flaky && withError.failsRun)
        #expect(Summary([withError]).exitCode == 1)
        #expect(Summary([withError]).line.hasSuffix(", 1 flaky"))
    }

    @Test func withoutAPassTheWorstWins() {
        #expect(CaseResult.merged([Self.result(.warn), Self.result(.error), Self.result(.fail)]).outcome == .fail)
        #expect(CaseResult.merged([Self.result(.warn), Self.result(.error)]).outcome == .error)
    }

    @Test func badRepeatCountsAreUsageErrors() async {
        for count in [0, -1, RunOptions.maximumRepeat + 1] {
            var options = RunOptions(pollURL: "http://127.0.0.1:1/poll")
            options.repeatCount = count
            let run = await CommandLineRun.run(options)
            #expect(run.exitCode == 2)
            #expect(run.errors.joined().contains("--repeat"), "\(run.errors)")
        }
    }

    /// Against the fake server: a steady defect is FAIL in every run, an intermittent
    /// one (every second handshake is not JSON) is FLAKY with both counts, and a
    /// correct server is PASS in every run; in the console, the JSON and the JUnit report.
    static let servers: [(Set<FakeDefect>, Outcome)] = [([], .pass), ([.handshakeNotJSON], .fail), ([.everyOtherHandshakeNotJSON], .flaky)]

    @Test(arguments: servers)
    func repeatAgainstTheFakeServer(defects: Set<FakeDefect>, expected: Outcome) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let runs = 4
        let run = try await CommandLineRun.withServer(defects) { server in
            var options = CommandLineRun.options(for: server, cases: ["handshake/002"])
            options.repeatCount = runs
            options.json = scratch.file("report.json")
            options.junit = scratch.file("report.xml")
            return await CommandLineRun.run(options)
        }
        #expect(run.exitCode == (expected == .pass ? 0 : 1), "\(run.text)\n\(run.errors)")
        #expect(run.output.filter { $0.hasPrefix("run ") }.count == runs, "one count line per run: \(run.text)")
        let caseLine = try #require(run.output.first { $0.contains("handshake/002") }, "\(run.text)")
        #expect(caseLine.hasPrefix(expected.rawValue), "\(caseLine)")

        let json = try JSONDecoder.iso8601.decode(JSONReport.self, from: Data(contentsOf: URL(fileURLWithPath: scratch.file("report.json"))))
        let result = try #require(json.results.first { $0.id == "handshake/002" })
        #expect(result.outcome == expected)
        let tally = try #require(result.runs)
        #expect(tally.total == runs)
        switch expected {
        case .pass: #expect(tally.pass == runs)
        case .fail: #expect(tally.fail == runs)
        default:
            #expect(tally.pass > 0 && tally.fail > 0, "\(tally)")
            #expect(caseLine.contains(tally.description), "the console line shows the counts: \(caseLine)")
            #expect(json.summary.flaky == 1)
        }
        #expect(json.run.repeatCount == runs)

        let xml = try String(contentsOfFile: scratch.file("report.xml"), encoding: .utf8)
        if expected == .flaky {
            #expect(xml.contains("type=\"FLAKY\""), "\(xml)")
            #expect(xml.contains("FLAKY: \(tally.description) in \(runs) runs"), "\(xml)")
        }
        #expect(try SchemaFiles.validate(jenkins: Array(xml.utf8)) == [])
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
