import GPollWire
import Foundation
import GPollSpec
import JUnitXML
import Synchronization

/// What `gpoll-conform client` was asked to do.
public struct ClientRunOptions: Sendable {
    /// The client under test: the program and its arguments, `{url}` standing for the endpoint's URL.
    public var command: [String]
    public var cases: [String] = []
    public var excludes: [String] = []
    public var strict = false
    /// The client implements acknowledged delivery: run the cases that need `ack`.
    public var ack = false
    public var junit: String?
    public var json: String?
    public var verbose = false
    /// How long a client may take to exit after SIGTERM before it gets SIGKILL.
    public var graceSeconds: Double = 2
    /// How many cases run at once (each with its own endpoint and client).
    public var parallelism = 4

    public init(command: [String]) { self.command = command }

    func selection(in catalog: Catalog) throws(UsageError) -> CaseSelection {
        do {
            let selection = CaseSelection(include: try cases.map(Glob.init), exclude: try excludes.map(Glob.init))
            if let unmatched = selection.unmatched(in: catalog.activeCases(on: .client).map(\.id)).first {
                throw UsageError("--case \(unmatched) matches no client case")
            }
            return selection
        } catch let error as UsageError {
            throw error
        } catch {
            throw UsageError("\(error)")
        }
    }

    func validate() throws(UsageError) {
        guard let program = command.first, !program.isEmpty else {
            throw UsageError("no client command: give it after --, e.g. gpoll-conform client -- gpoll listen --json {url}")
        }
        guard command.contains(where: { $0.contains("{url}") }) else {
            throw UsageError("the client command has no {url} argument to replace with the scripted endpoint's URL")
        }
        guard graceSeconds >= 0, graceSeconds <= 60 else { throw UsageError("--grace \(graceSeconds): expected 0 to 60 seconds") }
        guard parallelism >= 1 else { throw UsageError("--parallel \(parallelism): expected 1 or more") }
        if let junit, junit.isEmpty { throw UsageError("--junit needs a file name") }
    }

    /// The options that shape verdicts, for reports.
    var described: [String] {
        var out = ["--grace \(graceSeconds)", "--parallel \(parallelism)"]
        if ack { out.append("--ack") }
        if strict { out.append("--strict") }
        out += cases.map { "--case \($0)" } + excludes.map { "--exclude \($0)" }
        return out
    }
}

/// Runs client cases: for each, a scripted endpoint and the client under test.
public struct ClientConformanceRunner: Sendable {
    public var catalog: Catalog
    public var registry: [ClientConformanceCase]
    public var options: ClientRunOptions

    public init(catalog: Catalog = EmbeddedCatalog.catalog, registry: [ClientConformanceCase] = ClientCaseRegistry.all,
                options: ClientRunOptions) {
        self.catalog = catalog
        self.registry = registry
        self.options = options
    }

    /// Every selected case, in catalog order; `onResult` is called as each ends.
    public func run(_ selection: CaseSelection, onResult: @escaping @Sendable (CaseResult) -> Void = { _ in }) async -> [CaseResult] {
        let entries = catalog.activeCases(on: .client).filter { selection.selects($0.id) }
        let queue = WorkQueue(count: entries.count)
        var results: [String: CaseResult] = [:]
        await withTaskGroup(of: [CaseResult].self) { group in
            for _ in 0..<min(options.parallelism, max(1, entries.count)) {
                group.addTask {
                    var done: [CaseResult] = []
                    while let index = queue.take() {
                        let result = await runOne(entries[index])
                        onResult(result)
                        done.append(result)
                    }
                    return done
                }
            }
            for await done in group { for result in done { results[result.id] = result } }
        }
        return entries.compactMap { results[$0.id] }
    }

    /// Hands out the indexes 0..<count once each, to whichever worker asks first.
    private final class WorkQueue: Sendable {
        private let next = Mutex(0)
        private let count: Int
        init(count: Int) { self.count = count }
        func take() -> Int? {
            next.withLock { value in
                guard value < count else { return nil }
                defer { value += 1 }
                return value
            }
        }
    }

    func runOne(_ entry: Catalog.Case) async -> CaseResult {
        var result = CaseResult(id: entry.id, title: entry.title, section: entry.section, level: entry.level,
                                requirements: entry.requirements, outcome: .skip)
        guard let code = registry.first(where: { $0.id == entry.id }) else {
            result.reason = "not implemented by this build of gpoll-conform"
            return result
        }
        let unknownNeeds = entry.needs.filter { !$0.isKnown }
        if !unknownNeeds.isEmpty {
            result.reason = "needs \(unknownNeeds.map { "'\($0)'" }.joined(separator: ", ")), which this gpoll-conform build does not know (a newer Spec?)"
            return result
        }
        if entry.needs.contains(.ack) && !options.ack {
            result.reason = "needs ack: give --ack when the client under test implements acknowledged delivery"
            return result
        }
        let context = ClientCaseContext(caseID: entry.id, caseLevel: entry.level, catalog: catalog, command: options.command,
                                        clientUsesAck: options.ack, grace: .milliseconds(Int(options.graceSeconds * 1000)))
        let start = ContinuousClock.now
        let completion = await Self.withDeadline(code.limit) { try await code.run(context) }
        await context.finish()
        result.seconds = seconds(ContinuousClock.now - start)
        result.outcome = .pass
        switch completion {
        case .some(let error):
            result.conclude(error, strict: options.strict)
        case .none:
            result.outcome = .error
            result.reason = "timed out after \(code.limit)"
        }
        // A client under test runs until SIGTERM: one that stopped early explains the finding.
        if result.finding != nil, !context.endedOnTheirOwn.isEmpty {
            result.finding?.actual += "; " + context.endedOnTheirOwn.joined(separator: "; ")
        }
        if let problem = context.launchProblem {
            result.outcome = .error
            result.finding = nil
            result.reason = "cannot start the client under test: \(problem)"
        }
        result.endpoint = context.endpointURL
        result.transcript = context.transcript.entries
        return result
    }

    /// The body's error (nil inside: it finished), or nil when `limit` passed first.
    private static func withDeadline(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async -> (any Error)?? {
        await withTaskGroup(of: Optional<Optional<any Error>>.self) { group in
            group.addTask {
                do { try await body(); return .some(nil) } catch { return .some(error) }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// `gpoll-conform client`: validate, run, report; the exit code as in the server
/// mode (0 nothing failed, 1 a case failed or could not run, 2 bad usage).
public enum ClientConformanceMain {
    /// `--list`: one line per client case, as the server mode's list.
    public static func listing(catalog: Catalog = EmbeddedCatalog.catalog) -> String {
        catalog.activeCases(on: .client).map { entry in
            var line = "\(entry.id.padding(toLength: 16, withPad: " ", startingAt: 0)) "
                + "\(entry.level.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(entry.title)"
            if !entry.needs.isEmpty { line += "  [needs \(entry.needs.map(\.rawValue).joined(separator: ", "))]" }
            return line
        }.joined(separator: "\n")
    }

    public static func run(_ options: ClientRunOptions, catalog: Catalog = EmbeddedCatalog.catalog,
                           registry: [ClientConformanceCase] = ClientCaseRegistry.all,
                           output: @escaping @Sendable (String) -> Void = { print($0) },
                           errorOutput: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) async -> Int32 {
        let selection: CaseSelection
        do {
            try options.validate()
            selection = try options.selection(in: catalog)
        } catch {
            errorOutput("gpoll-conform client: \(error)")
            return 2
        }
        let target = options.command.joined(separator: " ")
        output("gpoll-conform \(RunInfo.toolVersion) client mode, \(catalog.spec) \(catalog.specVersion), client: \(target)")
        let verbose = options.verbose
        let started = Date()
        let clock = ContinuousClock.now
        let results = await ClientConformanceRunner(catalog: catalog, registry: registry, options: options)
            .run(selection) { output(ConsoleReport.line($0, catalog: catalog, verbose: verbose)) }
        let info = RunInfo(spec: catalog.spec, specVersion: catalog.specVersion, target: target, options: options.described,
                           strict: options.strict, started: started, seconds: seconds(ContinuousClock.now - clock))
        let summary = Summary(results)
        var exit = summary.exitCode
        func write(_ option: String, _ path: String, _ body: () throws -> Void) {
            do { try body() } catch {
                errorOutput("gpoll-conform client: cannot write \(option) \(path): \(error)")
                exit = 2
            }
        }
        if let path = options.json {
            let data = (try? JSONReport(run: info, results: results).encoded()) ?? Data()
            if path == "-" { output(String(decoding: data, as: UTF8.self)) } else {
                write("--json", path) { try data.write(to: URL(fileURLWithPath: path)) }
            }
        }
        if let path = options.junit {
            write("--junit", path) {
                try JUnitXMLWriter.write(JUnitMapping.report(results: results, catalog: catalog, run: info, verbose: verbose), toFile: path)
            }
        }
        output(summary.line + String(format: " (%.1f s)", info.seconds))
        return exit
    }
}
