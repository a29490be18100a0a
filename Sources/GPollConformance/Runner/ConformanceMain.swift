import Foundation
import GPollSpec
import GPollWire
import JUnitXML

/// The whole gpoll-conform run behind the command line: validate, check the target
/// answers, run, report, and return the exit code (0 nothing failed, 1 a case
/// failed or could not run, 2 bad usage or unreachable target).
public enum ConformanceMain {
    public static func run(_ options: RunOptions, catalog: Catalog = EmbeddedCatalog.catalog, registry: [ConformanceCase] = CaseRegistry.all,
                           output: @escaping @Sendable (String) -> Void = { print($0) },
                           errorOutput: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) async -> Int32 {
        let settings: Settings
        let selection: CaseSelection
        do {
            settings = try options.settings()
            selection = try options.selection(in: catalog)
            try options.checkReportOptions()
        } catch {
            errorOutput("gpoll-conform: \(error)")
            return 2
        }
        let client: WireClient
        do {
            client = try WireClient(tls: .init(caCertificatePath: options.caCert, insecure: options.insecure))
        } catch {
            errorOutput("gpoll-conform: TLS setup failed: \(error)")
            return 2
        }
        defer { Task { await client.shutdown() } }

        let unprobed = ConformanceRunner(catalog: catalog, registry: registry, settings: settings)
        if let problem = await unprobed.preflight(client: client) {
            errorOutput("gpoll-conform: the target is unreachable: \(problem)")
            await client.shutdown()
            return 2
        }
        // Once for every --repeat round: what the server advertises decides skips and
        // fills the settings the command line left unknown.
        let runner = await unprobed.probed(client: client)
        output("gpoll-conform \(RunInfo.toolVersion), \(catalog.spec) \(catalog.specVersion), target \(settings.pollURL)")
        if !runner.settings.learnt.isEmpty {
            output("from the server's handshake (not given on the command line): \(runner.settings.learnt.joined(separator: ", "))")
        }
        let started = Date()
        let clock = ContinuousClock.now
        let verbose = options.verbose
        // --repeat: the whole selection runs N times, as scheduled, then each case's
        // runs are merged (FLAKY when they disagree). Case lines come after the last
        // run, so that each shows every run's outcome.
        let repeats = options.repeatCount
        var runs: [[CaseResult]] = []
        for number in 1...repeats {
            let results = await runner.run(selection, client: client) { result in
                if repeats == 1 { output(ConsoleReport.line(result, catalog: catalog, verbose: verbose)) }
            }
            if repeats > 1 { output("run \(number) of \(repeats): \(Summary(results).counts)") }
            runs.append(results)
        }
        let results = CaseResult.merged(runs: runs)
        if repeats > 1 {
            for result in results { output(ConsoleReport.line(result, catalog: catalog, verbose: verbose)) }
        }
        await client.shutdown()
        let elapsed = ContinuousClock.now - clock
        let info = RunInfo(spec: catalog.spec, specVersion: catalog.specVersion, target: options.pollURL,
                           options: options.described + runner.settings.learnt.map { "advertised \($0)" }, strict: options.strict, started: started,
                           seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                           repeatCount: repeats > 1 ? repeats : nil)
        let summary = Summary(results)
        var exit = summary.exitCode
        func write(_ option: String, _ path: String, _ body: () throws -> Void) {
            do { try body() } catch {
                errorOutput("gpoll-conform: cannot write \(option) \(path): \(error)")
                exit = 2
            }
        }
        if let path = options.json {
            write("--json", path) { try JSONReport(run: info, results: results).encoded().write(to: URL(fileURLWithPath: path)) }
        }
        if let path = options.junit {
            write("--junit", path) {
                try JUnitXMLWriter.write(JUnitMapping.report(results: results, catalog: catalog, run: info, verbose: verbose,
                                                                perCaseOutput: !options.junitAnt), toFile: path)
            }
        }
        if let path = options.html {
            write("--html", path) {
                try Data(HTMLReport.page(results: results, catalog: catalog, run: info).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            }
        }
        if let directory = options.reproduce {
            write("--reproduce", directory) {
                let written = try ReproduceScript.writeAll(results: results, catalog: catalog, settings: settings, run: info,
                                                           directory: directory)
                output("gpoll-conform: \(written.count) replay script\(written.count == 1 ? "" : "s") in \(directory)")
            }
        }
        output(summary.line + String(format: " (%.1f s)", info.seconds))
        return exit
    }

    /// `--list`, as text or JSON.
    public static func list(_ options: RunOptions, json: Bool, catalog: Catalog = EmbeddedCatalog.catalog,
                            output: @Sendable (String) -> Void = { print($0) }) throws(UsageError) {
        let listing = CatalogListing(catalog, selection: try options.selection(in: catalog))
        if json {
            output(String(decoding: (try? listing.encoded()) ?? Data(), as: UTF8.self))
        } else {
            output(listing.text)
        }
    }
}
