import ArgumentParser
import Foundation
import GPollBench
import GPollServer

extension BenchProtocol: ExpressibleByArgument {}

@main
struct GPollBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpoll-bench",
        abstract: "Load and benchmark tool for gpoll/1 servers.",
        discussion: """
            http        drives any gpoll endpoint over real HTTP through the Spec's harness \
            interface (a publish URL) and reports handshakes/s, deliveries/s, \
            publish-to-delivery latency and every anomaly (lost clients, missing, duplicate \
            or out-of-order messages, errors).
            in-process  fans messages out through the reference server's broadcaster with no \
            HTTP, as the original's Benchmark(msgSize, clients, numMsgs).

            Exit codes: 0 when everything was delivered and nothing failed, 1 when anything \
            was lost, missing, duplicated, out of order or errored, 64 for bad usage.
            """,
        subcommands: [HTTPCommand.self, InProcessCommand.self]
    )
}

struct HTTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Load a gpoll endpoint over HTTP and measure delivery.",
        discussion: """
            Each client opens its own connection, handshakes (client-id=0), then keeps one \
            poll in flight: a new poll right after every 200 or 204. When every client has \
            handshaken, the bench publishes --messages messages of --size bytes with POST \
            to --publish-url. Each message starts with a 20-byte header (magic, sequence \
            number, publish send time in monotonic nanoseconds of the bench process) and is \
            padded to --size; latency is receive time minus send time.

            Lock-step (--burst K, the default with K=1): publish K messages back to back, \
            wait until every live client has all of them, then the next K. A burst not \
            delivered within --timeout ends the run, failed, with the clients still short \
            of it reported as stragglers. K=1 measures \
            broadcast latency as the original did. Open loop (--rate R): R messages per \
            second whatever the clients do, then wait for the last delivery.

            A client that answered 200 at handshake and 404 later is LOST if no more than \
            --client-buffer messages can have been waiting for it (so the server cannot have \
            evicted it), else counted as evicted. Give the server's real --client-buffer.

            --protocol nchan loads nchan (an nginx module) the same way: no handshake (a \
            connection counts as one), each poll sends the previous 200's Last-Modified and \
            Etag as If-Modified-Since and If-None-Match, publishes go to nchan's publisher \
            location. --server-pid PID adds the server's CPU per delivery and its memory per \
            waiting poll (with --hold), read from /proc.

            A progress line goes to stderr about once a second. The run stops when the \
            messages are done or --duration is reached, and always closes every connection.

            Example, against `gpoll-server --client-buffer 100 --poll-timeout 60`:
              gpoll-bench http http://127.0.0.1:8080/poll \\
                --publish-url http://127.0.0.1:8081/publish --clients 1000 --messages 200
            """
    )

    @Argument(help: ArgumentHelp("The gpoll endpoint, e.g. http://127.0.0.1:8080/poll.", valueName: "poll-url"))
    var pollURL: String

    @Option(help: ArgumentHelp("The harness publish URL (POST, raw body), e.g. http://127.0.0.1:8081/publish.", valueName: "url"))
    var publishURL: String

    @Option(help: ArgumentHelp("A header for every publish request, e.g. 'Authorization: Bearer x'; repeatable.", valueName: "'Name: value'"))
    var publishHeader: [String] = []

    @Option(help: "Clients (connections), each with one poll in flight.")
    var clients = 100

    @OptionGroup(title: "Messages and report")
    var shared: SharedOptions

    @Option(help: ArgumentHelp("Lock-step: publish K messages, wait for full delivery, repeat. (default: 1)", valueName: "k"))
    var burst: Int?

    @Option(help: ArgumentHelp("Open loop: publish R messages per second instead of lock-step.", valueName: "r"))
    var rate: Double?

    @Option(help: ArgumentHelp("Stop publishing after this many seconds even if messages remain.", valueName: "seconds"))
    var duration: Double?

    @Option(help: ArgumentHelp("Connections being opened and handshaken at once.", valueName: "c"))
    var connectConcurrency = 256

    @Option(help: ArgumentHelp("Longest wait for a connect, a handshake, or a burst's full delivery.", valueName: "seconds"))
    var timeout: Double = 10

    @Option(help: ArgumentHelp("Event loop threads of the bench.", valueName: "n"))
    var threads = 2

    @Option(help: ArgumentHelp("Wait this long with every poll waiting before publishing (to measure the server's memory from outside).", valueName: "seconds"))
    var hold: Double = 0

    @Option(help: ArgumentHelp("PEM file of CA certificates to trust for https:// URLs.", valueName: "pem"))
    var caCert: String?

    @Flag(help: "Do not verify the server's TLS certificate (tests only).")
    var insecure = false

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    @Option(name: .customLong("protocol"), help: ArgumentHelp("gpoll, or nchan: nchan's long-poll subscriber (poll-url its subscriber location, --publish-url its publisher location).", valueName: "name"))
    var protocolKind: BenchProtocol = .gpoll

    @Option(help: ArgumentHelp("The server's pid: report its CPU per delivery and memory per waiting poll from /proc (with its child processes).", valueName: "pid"))
    var serverPID: Int32?

    var options: HTTPBenchOptions {
        var options = HTTPBenchOptions(pollURL: pollURL, publishURL: publishURL)
        options.publishHeaders = publishHeader
        options.clients = clients
        options.messages = shared.messages
        options.size = shared.size
        options.burst = burst
        options.rate = rate
        options.duration = duration
        options.clientBuffer = shared.clientBuffer
        options.connectConcurrency = connectConcurrency
        options.timeout = timeout
        options.threads = threads
        options.hold = hold
        options.caCertificatePath = caCert
        options.insecure = insecure
        options.protocolKind = protocolKind
        options.serverPID = serverPID
        return options
    }

    func validate() throws {
        if case .failure(let errors) = options.validate() { throw ValidationError(errors.description) }
    }

    func run() async throws {
        let configuration: HTTPBenchConfiguration
        switch options.validate() {
        case .success(let checked): configuration = checked
        case .failure(let errors): throw ValidationError(errors.description)
        }
        if let (old, new) = FileDescriptorLimit.raiseToHardLimit() {
            if new < UInt64(clients) + 64 {
                printError("warning: the file descriptor limit is \(new) (was \(old)); \(clients) clients need more")
            }
        }
        let progress: (@Sendable (String) -> Void)? = quiet ? nil : { @Sendable line in printError(line) }
        let driver = HTTPLoadDriver(configuration: configuration, progress: progress)
        let report: HTTPBenchReport
        do {
            report = try await driver.run()
        } catch let error as BenchOptionsError {
            throw ValidationError(error.description)
        }
        print(shared.json ? report.json() : report.text())
        if !report.passed { throw ExitCode(1) }
    }
}

struct InProcessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "in-process",
        abstract: "Time broadcasts through the reference server's broadcaster, no HTTP.",
        discussion: """
            Registers --clients clients in one GPollEndpoint, then broadcasts --messages \
            messages of --size bytes and times each broadcast. Nobody polls, so every \
            broadcast appends to every client's queue: --messages may not exceed \
            --client-buffer (the buffer would overflow and evict everyone), as in the \
            original. Reports time per broadcast (min, median, p99, max) and client \
            enqueues per second.
            """
    )

    @Option(help: "Registered clients.")
    var clients = 10_000

    @OptionGroup(title: "Messages and report")
    var shared: SharedOptions

    var options: InProcessOptions {
        var options = InProcessOptions()
        options.clients = clients
        options.messages = shared.messages
        options.size = shared.size
        options.clientBuffer = shared.clientBuffer
        return options
    }

    func validate() throws {
        if case .failure(let errors) = options.validate() { throw ValidationError(errors.description) }
    }

    func run() throws {
        let report = try InProcessBenchmark(options: options).run()
        print(shared.json ? report.json() : report.text())
        if !report.passed { throw ExitCode(1) }
    }
}

/// What both benchmarks send and how they report, with the same names and
/// defaults in `http` and `in-process`. The client count stays with each command:
/// its default differs (100 connections, 10,000 registered clients).
struct SharedOptions: ParsableArguments {
    @Option(help: "Messages to publish (in-process: broadcasts).")
    var messages = 100

    @Option(help: ArgumentHelp("Bytes per message; over HTTP at least 20 (the header) and at most 1048576.", valueName: "bytes"))
    var size = 64

    @Option(help: ArgumentHelp("B, each client's buffer. http: the server's, which decides whether a 404 can be an eviction; in-process: at least --messages.", valueName: "b"))
    var clientBuffer = 100

    @Flag(help: "Print the report as one JSON object (for scripts) instead of text.")
    var json = false
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
