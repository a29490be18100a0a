import ArgumentParser
import Dispatch
import Foundation
import GPollClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `gpoll listen URL`: register, then print every message as it arrives.
struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register at a gpoll endpoint and print every message as it arrives.",
        discussion: """
            Messages go to standard output, one per line (the bytes as sent, then a newline);
            what happens meanwhile (registered, backing off, registered again after the
            server forgot the client) goes to standard error in words.

            --json prints one JSON object per line instead, events included:
              {"event":"registered","client-id":"0$…"}
              {"event":"message","data":"<base64>","text":"<the text, when it is UTF-8>"}
              {"event":"registered-again","client-id":"0$…","missed":true}
              {"event":"backoff","seconds":1.25,"reason":"503 Service Unavailable"}
              {"event":"closed","reason":"SIGTERM"}
            (the line protocol of gpoll-conform's client mode). --raw ends each message
            with a NUL byte instead of a newline, for messages that hold newlines.

            gpoll listen follows the gpoll/1.1 client algorithm (Spec section 19): it polls
            again after each answer, registers again after a 404 and says so, honours
            Retry-After, backs off with jitter after failures, and uses acknowledged delivery
            when the server offers it, so that an answer lost in transit is sent again.
            It keeps trying until it is stopped (SIGINT, SIGTERM: exit 0), unless
            --give-up-after is given.

            Examples:
              gpoll listen http://127.0.0.1:8080/poll
              gpoll listen --json --count 2 http://127.0.0.1:8080/poll
              gpoll listen --raw https://example.com/poll --ca-cert ca.pem | xargs -0 -n1 echo
            """)

    @Argument(help: ArgumentHelp("The gpoll endpoint, e.g. http://127.0.0.1:8080/poll.", valueName: "url"))
    var url: String

    @Flag(help: "Print one JSON object per line, events included (the client-mode line protocol).")
    var json = false

    @Flag(help: "End each message with a NUL byte instead of a newline.")
    var raw = false

    @Option(help: ArgumentHelp("Stop (exit 0) after this many messages.", valueName: "n"))
    var count: Int?

    @Option(name: .customLong("give-up-after"), help: ArgumentHelp(
        "Exit after this many failures in a row (unreachable: 1, not a gpoll endpoint: 3, TLS: 4); default: keep trying.",
        valueName: "n"))
    var giveUpAfter: Int?

    @Option(name: .customLong("poll-timeout"), help: ArgumentHelp(
        "The server's poll timeout T in seconds, for servers that do not advertise it (polls then wait T + 5 s).",
        valueName: "seconds"))
    var pollTimeout: Double?

    @Flag(name: .customLong("no-ack"), help: "Do not use acknowledged delivery even when the server offers it.")
    var noAck = false

    @Option(name: .customLong("max-message-bytes"), help: ArgumentHelp("The largest message accepted.", valueName: "bytes"))
    var maximumMessageBytes = 16 * 1024 * 1024

    @Flag(help: "Print no events on standard error.")
    var quiet = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try validateURL(url, what: "the endpoint")
        if json && raw { throw ValidationError("--json and --raw are two output formats: choose one") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        if let giveUpAfter, giveUpAfter < 1 { throw ValidationError("--give-up-after must be at least 1, got \(giveUpAfter)") }
        if let pollTimeout, !(pollTimeout >= 0) || !pollTimeout.isFinite { throw ValidationError("--poll-timeout must be a number of seconds >= 0") }
        if maximumMessageBytes < 0 { throw ValidationError("--max-message-bytes must not be negative") }
        _ = try connection.headers()
    }

    /// How the listening ended.
    enum Ending: Sendable {
        case countReached
        case outputClosed
        case stopped
    }

    func run() async throws {
        var configuration = GPollClientConfiguration()
        configuration.headers = try connection.headers()
        configuration.tlsConfiguration = try connection.tlsConfiguration()
        configuration.pollTimeout = pollTimeout.map { Duration.seconds($0) }
        configuration.usesAcknowledgedDelivery = !noAck
        configuration.maximumMessageBytes = maximumMessageBytes
        configuration.maximumConsecutiveFailures = giveUpAfter
        let client: GPollClient
        do {
            client = try GPollClient(endpoint: url, configuration: configuration)
        } catch {
            throw ValidationError("\(error)")
        }
        let output = ListenOutput(format: json ? .json : raw ? .raw : .lines, quiet: quiet, url: url)
        let limit = count

        let listening = Task { () throws -> Ending in
            var received = 0
            for try await event in client.events() {
                let written: Bool
                switch event {
                case .registered(let registration): written = output.registered(registration)
                case .registeredAgain(let registration, let cause): written = output.registeredAgain(registration, cause: cause)
                case .backingOff(let reason, let duration): written = output.backingOff(reason, duration: duration)
                case .message(let message):
                    written = output.message(message)
                    received += 1
                }
                if !written { return .outputClosed }
                if let limit, received >= limit { return .countReached }
            }
            return .stopped
        }
        let signals = StopSignals { listening.cancel() }
        let result = await listening.result
        signals.stop()
        await client.close()

        switch result {
        case .success(.countReached):
            output.closed("received \(received(limit)) (--count)")
        case .success(.outputClosed):
            break  // standard output is gone: nothing to say there, and nothing wrong
        case .success(.stopped):
            output.closed(signals.received.map { "stopped by \($0)" } ?? "stopped")
        case .failure(let error):
            if case .gaveUp(let failures, let last)? = error as? GPollClientError {
                let summary = "gave up after \(failures == 1 ? "a failure" : "\(failures) failures in a row"): \(last)"
                if output.format == .json { output.closed(summary) }
                let hint = Hint.forBackoff(last, url: url).map { "\n  " + $0 } ?? ""
                StandardError.write("gpoll: \(summary)\(hint)\n")
                throw ExitCode(Hint.exitStatus(for: last))
            }
            if output.format == .json { output.closed("\(error)") }
            StandardError.write("gpoll: \(error)\n")
            throw ExitCode(ExitStatus.lost)
        }
    }

    private func received(_ limit: Int?) -> String {
        limit == 1 ? "1 message" : "\(limit ?? 0) messages"
    }
}

/// SIGINT and SIGTERM end the listening (exit 0) instead of killing the process mid-line.
final class StopSignals {
    /// The first stop signal's name, shared with the handlers.
    private final class FirstSignal: Sendable {
        let name = Mutex<String?>(nil)
    }

    private let sources: [any DispatchSourceSignal]
    private let first: FirstSignal

    init(onStop: @escaping @Sendable () -> Void) {
        let first = FirstSignal()
        self.first = first
        sources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
            // Ignored as a disposition, so that only the dispatch source sees the signal.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                first.name.withLock { $0 = $0 ?? name }
                onStop()
            }
            source.resume()
            return source
        }
    }

    /// The first stop signal received, by name.
    var received: String? { first.name.withLock { $0 } }

    func stop() {
        for source in sources { source.cancel() }
    }
}
