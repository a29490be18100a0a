import ArgumentParser
import Foundation
import GPollConformance
import GPollServer

/// The command line of the conformance tester. Its help is its manual.
@main
struct GPollConform: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpoll-conform",
        abstract: "Run the gpoll/1 conformance cases against a gpoll endpoint.",
        discussion: """
            Each case of Spec's catalog ends with one outcome:
              PASS   every check held
              FAIL   a MUST was broken (or a SHOULD under --strict)
              WARN   a SHOULD was broken; not a failure unless --strict
              SKIP   not run, with the reason (e.g. "needs --publish-url")
              ERROR  could not run: refused connection, publish URL not answering 2xx, time-out
              FLAKY  with --repeat: some runs passed and some did not; the counts say how
                     many of each (e.g. "3 pass, 2 fail")

            Every FAIL, WARN, FLAKY and ERROR prints the requirement id and its sentence,
            expected against actual, and the HTTP transcript of the case.

            Exit codes:
              0  nothing failed (PASS, WARN, SKIP only, or FLAKY between PASS and WARN)
              1  a case failed, or could not run (FAIL or ERROR, or FLAKY with a run
                 that FAILed or ERRORed: a server that breaks a MUST now and then
                 does not conform; under --strict a WARN run counts as FAIL)
              2  bad usage, or the target is unreachable

            Reports: --junit (CI), --json (everything, with transcripts), --html (one
            page to read, offline), --reproduce DIR (a bash script per FAIL, WARN and
            FLAKY case that replays its exchange with curl or /dev/tcp, e.g.
            DIR/handshake-002.sh; run it with bash, SERVER=host:port to aim it elsewhere).

            A broadcast reaches every client of an endpoint, so at most one case
            publishes on an endpoint at a time, alone there; cases that publish
            nothing run in parallel. With --second-endpoint and --second-publish-url
            the second endpoint is a second lane, and the suite runs about twice as fast.

            Example, against the reference server started with its defaults:
              gpoll-conform http://127.0.0.1:8080/poll --publish-url http://127.0.0.1:8081/publish \\
                --poll-timeout 30 --idle-expiry 60 --strict --junit report.xml

            Is a failure steady or flaky? Run the suspects five times, with a page and
            replay scripts:
              gpoll-conform http://127.0.0.1:8080/poll --publish-url http://127.0.0.1:8081/publish \\
                --case 'delivery/*' --repeat 5 --html report.html --reproduce repro/
            """,
        version: RunInfo.toolVersion,
        // `gpoll-conform client -- COMMAND ...` checks a client instead (ClientCommand.swift).
        subcommands: [ClientCommand.self])

    @OptionGroup(title: "Target")
    var target: TargetOptions

    @Option(help: ArgumentHelp("A second endpoint of the same server, for the isolation cases.", valueName: "url"))
    var secondEndpoint: String?

    @Option(help: ArgumentHelp("The publish URL of the second endpoint.", valueName: "url"))
    var secondPublishURL: String?

    @Option(help: ArgumentHelp("B, the server's per-client buffer (queued messages before eviction). Default: what the server's handshake advertises (gpoll/1.1), else 100.", valueName: "n"))
    var clientBuffer: Int?

    @Option(help: ArgumentHelp("T, the server's poll timeout: 0 (polls never time out) or at least 1. Default: what the server advertises; unknown: the timeout cases are skipped.", valueName: "seconds"))
    var pollTimeout: Double?

    @Option(help: ArgumentHelp("E, the server's idle expiry: 0 (never) or at least 1. Default: what the server advertises; unknown or 0: the expiry cases are skipped.", valueName: "seconds"))
    var idleExpiry: Double?

    @Option(help: ArgumentHelp("The server's client limit, for the 503 cases. Unknown: they are skipped. They fill the server, so they run last.", valueName: "n"))
    var maxClients: Int?

    @Option(name: .customLong("case"), help: ArgumentHelp("Run only cases whose id matches, e.g. 'handshake/*' (* ? [..]). Repeatable.", valueName: "glob"))
    var cases: [String] = []

    @Option(help: ArgumentHelp("Do not run cases whose id matches. Repeatable.", valueName: "glob"))
    var exclude: [String] = []

    @Flag(help: "Print the catalog (with --json: as JSON) and exit.")
    var list = false

    @Flag(help: "Count SHOULD violations as failures (FAIL, not WARN).")
    var strict = false

    @Flag(help: "Also run the stress tier (Spec §20): 10,000 concurrent handshakes, 1,000 polls released by one publish, a publish storm. Off by default; takes about a minute.")
    var stress = false

    @Option(help: ArgumentHelp("Write a JUnit XML report: one <testsuite> per Spec section; WARN is a passing <testcase> whose <system-out> starts with WARN; FLAKY is a <failure type=\"FLAKY\"> when a run failed, else passing, its <system-out> starting with FLAKY and the counts.", valueName: "file"))
    var junit: String?

    @Flag(help: "With --junit: a report valid for the strict Ant JUnit schema, which allows no <system-out> inside a <testcase>; WARN and FLAKY then show in the suite's <system-out> and '<section>.warned'/'.flaky' properties only.")
    var junitAnt = false

    @Option(help: ArgumentHelp("Write the results as JSON (with --list: print the catalog as JSON; give '-' or nothing for standard output).", valueName: "file"))
    var json: String?

    @Flag(help: "Show the transcripts of passing cases too.")
    var verbose = false

    @Option(name: .customLong("repeat"), help: ArgumentHelp("Run the selected cases N times (the whole selection, N rounds); a case whose runs disagree is FLAKY, with the counts of each outcome. Case lines are printed after the last round.", valueName: "n"))
    var repeatCount: Int = 1

    @Option(help: ArgumentHelp("Write a bash script per FAIL, WARN and FLAKY case into this directory (created if missing), e.g. DIR/delivery-002.sh: it replays the case's exchange (curl, or printf into /dev/tcp), reading client ids from the answers, and prints the requirement, expected and actual.", valueName: "dir"))
    var reproduce: String?

    @Option(help: ArgumentHelp("Write one self-contained HTML page (no external resources): outcomes by section, then every case, failures first, with its requirement text, expected against actual and its transcript.", valueName: "file"))
    var html: String?

    @Option(help: ArgumentHelp("Per-case time limit; a case still running then is an ERROR. Cases that wait for T or E get 2 × (T + 1 s) or 2 × (E + 1 s) more.", valueName: "seconds"))
    var timeout: Double = 10

    @Option(help: ArgumentHelp("How long to let an asynchronous server apply a publish or notice a close before checking that something did not happen.", valueName: "ms"))
    var settleMs: Int = 150

    func validate() throws {
        if !list && target.pollURL == nil { throw ValidationError("Missing expected argument '<poll-url>'") }
    }

    var options: RunOptions {
        var options = RunOptions(pollURL: target.pollURL ?? "http://127.0.0.1/")
        target.apply(to: &options)
        options.secondEndpoint = secondEndpoint
        options.secondPublishURL = secondPublishURL
        options.clientBuffer = clientBuffer
        options.pollTimeout = pollTimeout
        options.idleExpiry = idleExpiry
        options.maxClients = maxClients
        options.cases = cases
        options.excludes = exclude
        options.strict = strict
        options.stress = stress
        options.junit = junit
        options.junitAnt = junitAnt
        options.json = json
        options.verbose = verbose
        options.timeout = timeout
        options.settleMs = settleMs
        options.repeatCount = repeatCount
        options.reproduce = reproduce
        options.html = html
        return options
    }

    func run() async throws {
        if list {
            do {
                try ConformanceMain.list(options, json: json != nil)
            } catch {
                FileHandle.standardError.write(Data("gpoll-conform: \(error)\n".utf8))
                throw ExitCode(2)
            }
            return
        }
        // Every client the tester plays is a connection; the stress tier opens 10,000.
        FileDescriptorLimit.raiseToHardLimit()
        let code = await ConformanceMain.run(options)
        if code != 0 { throw ExitCode(code) }
    }

    /// `--list --json` takes no file: give `--json` the value `-` when nothing follows it.
    static func preprocess(_ arguments: [String]) -> [String] {
        var out: [String] = []
        for (index, argument) in arguments.enumerated() {
            out.append(argument)
            if argument == "--json", index + 1 == arguments.count || arguments[index + 1].hasPrefix("--") { out.append("-") }
        }
        return out
    }

    /// ArgumentParser exits 64 on a usage error; gpoll-conform promises 2.
    static func main() async {
        // `client` would be read as the optional <poll-url>: dispatch it first.
        if CommandLine.arguments.dropFirst().first == ClientCommand.configuration.commandName {
            await ClientCommand.main(subcommandArguments: Array(CommandLine.arguments.dropFirst(2)))
        }
        do {
            var command = try parseAsRoot(preprocess(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
