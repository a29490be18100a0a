import ArgumentParser
import Foundation
import GPollConformance

/// `gpoll-conform client`: the client cases of Spec section 19, against a client
/// program that prints the line protocol. Its help is its manual.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Run the Spec's client cases (client/NNN) against a gpoll client program.",
        discussion: """
            For each case, gpoll-conform starts a scripted gpoll endpoint on
            127.0.0.1 (a port of the system's choosing) that plays the case: 204
            after T, 204 at once, 404 mid-stream, 503 with Retry-After, 5xx, odd
            handshake objects, dropped connections, slow answers, a lost 200 under
            acknowledged delivery... It starts COMMAND with {url} in its arguments
            replaced by the endpoint's URL, reads what it prints on standard output
            (the line protocol: one JSON object per line, see Conformance/README.md,
            "Checking a client"), stops it with SIGTERM (SIGKILL after --grace) and
            judges what it sent on the wire and what it printed.

            Outcomes, exit codes and reports are those of the server mode:
              PASS   every check held
              FAIL   a MUST was broken (or a SHOULD under --strict)
              WARN   a SHOULD was broken
              SKIP   not run, e.g. an ack case without --ack
              ERROR  the client could not be started, or the case ran over its
                     time limit
            Exit codes: 0 nothing failed; 1 a case failed or could not run;
            2 bad usage.

            Timing is judged generously (a slow client is not wrong) except where
            the Spec says "not before": Retry-After, and backoff delays after
            failures. Some cases wait for long answers (client/016 40 s,
            client/023 about two minutes).

            Examples:
              gpoll-conform client -- gpoll listen --json {url}
              gpoll-conform client --ack --junit client.xml -- ./my-adapter {url}
              gpoll-conform client --case 'client/01[0-4]' -- python3 adapter.py {url}
            """)

    @Option(name: .customLong("case"), help: ArgumentHelp("Run only client cases whose id matches, e.g. 'client/01*' (* ? [..]). Repeatable.", valueName: "glob"))
    var cases: [String] = []

    @Option(help: ArgumentHelp("Do not run client cases whose id matches. Repeatable.", valueName: "glob"))
    var exclude: [String] = []

    @Flag(help: "The client implements acknowledged delivery (Spec section 18): run the cases that need ack.")
    var ack = false

    @Flag(help: "Count SHOULD violations as failures (FAIL, not WARN).")
    var strict = false

    @Option(help: ArgumentHelp("Write a JUnit XML report (as the server mode's).", valueName: "file"))
    var junit: String?

    @Option(help: ArgumentHelp("Write the results as JSON ('-': standard output).", valueName: "file"))
    var json: String?

    @Flag(help: "Show the transcripts of passing cases too.")
    var verbose = false

    @Option(help: ArgumentHelp("Seconds between SIGTERM and SIGKILL when a case stops the client.", valueName: "seconds"))
    var grace: Double = 2

    @Option(help: ArgumentHelp("How many cases run at once, each with its own endpoint and client.", valueName: "n"))
    var parallel: Int = 4

    @Flag(help: "Print the client cases and exit.")
    var list = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The client under test after --, with {url} for the endpoint's URL.", valueName: "command"))
    var command: [String] = []

    func run() async throws {
        if list {
            print(ClientConformanceMain.listing())
            return
        }
        var options = ClientRunOptions(command: command)
        options.cases = cases
        options.excludes = exclude
        options.ack = ack
        options.strict = strict
        options.junit = junit
        options.json = json
        options.verbose = verbose
        options.graceSeconds = grace
        options.parallelism = parallel
        let code = await ClientConformanceMain.run(options)
        if code != 0 { throw ExitCode(code) }
    }
}

extension ClientCommand {
    /// Runs `gpoll-conform client ARGUMENTS` and exits: 0, 1 or 2 as the server mode
    /// (ArgumentParser's own usage code, 64, becomes 2).
    static func main(subcommandArguments arguments: [String]) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success {
                // --help: with the parent's name in the usage line.
                print(GPollConform.helpMessage(for: ClientCommand.self))
                Foundation.exit(0)
            }
            // The usage line with the parent's name, as `gpoll-conform client ...`.
            let text = "Error: \(message(for: error))\nUsage: \(GPollConform.usageString(for: ClientCommand.self))\n"
                + "  See 'gpoll-conform client --help' for more information.\n"
            FileHandle.standardError.write(Data(text.utf8))
            Foundation.exit(2)
        }
    }
}
