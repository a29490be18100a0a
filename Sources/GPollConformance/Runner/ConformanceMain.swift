import Foundation
import JUnitXML

/// The whole gpoll-conform run behind the command line: validate, check the target
/// answers, run, report, and return the exit code (0 nothing failed, 1 a case
/// failed or could not run, 2 bad usage or unreachable target).
public enum ConformanceMain {
    public static func run(_ options: RunOptions, catalog: CatalogView = .embedded, registry: [ConformanceCase] = CaseRegistry.all,
                           output: @escaping @Sendable (String) -> Void = { print($0) },
                           errorOutput: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) async -> Int32 {
        let settings: Settings
        let selection: CaseSelection
        do {
            settings = try options.settings()
            selection = try options.selection(in: catalog)
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

        let runner = ConformanceRunner(catalog: catalog, registry: registry, settings: settings)
        if let problem = await runner.preflight(client: client) {
            errorOutput("gpoll-conform: the target is unreachable: \(problem)")
            await client.shutdown()
            return 2
        }
        output("gpoll-conform \(RunInfo.toolVersion), \(catalog.spec) \(catalog.specVersion), target \(settings.pollURL)")
        let started = Date()
        let clock = ContinuousClock.now
        let verbose = options.verbose
        let results = await runner.run(selection, client: client) { result in
            output(ConsoleReport.line(result, catalog: catalog, verbose: verbose))
        }
        await client.shutdown()
        let elapsed = ContinuousClock.now - clock
        let info = RunInfo(spec: catalog.spec, specVersion: catalog.specVersion, target: options.pollURL,
                           options: options.described, strict: options.strict, started: started,
                           seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let summary = Summary(results)
        var exit = summary.exitCode
        if let path = options.json {
            do { try JSONReport(run: info, results: results).encoded().write(to: URL(fileURLWithPath: path)) } catch {
                errorOutput("gpoll-conform: cannot write --json \(path): \(error)")
                exit = 2
            }
        }
        if let path = options.junit {
            do {
                try JUnitXMLWriter.write(JUnitMapping.report(results: results, catalog: catalog, run: info, verbose: verbose), toFile: path)
            } catch {
                errorOutput("gpoll-conform: cannot write --junit \(path): \(error)")
                exit = 2
            }
        }
        output(summary.line + String(format: " (%.1f s)", info.seconds))
        return exit
    }

    /// `--list`, as text or JSON.
    public static func list(_ options: RunOptions, json: Bool, catalog: CatalogView = .embedded,
                            output: @Sendable (String) -> Void = { print($0) }) throws(UsageError) {
        let listing = CatalogListing(catalog, selection: try options.selection(in: catalog))
        if json {
            output(String(decoding: (try? listing.encoded()) ?? Data(), as: UTF8.self))
        } else {
            output(listing.text)
        }
    }
}
