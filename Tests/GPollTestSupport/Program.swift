// Child processes for the tests, through swift-subprocess.
//
// Not Foundation's Process: in Swift 6.3.1 its run() reads past the end of
// glibc's readdir buffer while it closes the inherited descriptors
// (swift-corelibs-foundation #5472, fixed after 6.3.1), and crashes with SIGSEGV
// when the test process holds thousands of connections, as our tests do.
// Subprocess closes them with close_range and has no such bug.

public import Subprocess
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child ended, as Subprocess says it (`.exited(code)` or `.signaled(number)`);
/// named here so that the tests need not import Subprocess.
public typealias TerminationStatus = Subprocess.TerminationStatus

/// Runs a program to its end, or to its deadline.
public enum Program {
    /// What a program did before it ended.
    public struct Finished: Sendable {
        /// How it ended: `.exited(code)`, or `.signaled(number)` (so a timed-out run ends `.signaled(SIGKILL)`).
        public var status: TerminationStatus
        /// Its standard output as UTF-8; with ``StandardError/combinedWithOutput`` its standard error too.
        public var stdout: String
        /// Its standard error as UTF-8; empty with ``StandardError/combinedWithOutput``.
        public var stderr: String
        /// It was still running at the deadline and was killed.
        public var timedOut: Bool
    }

    /// Where the program's standard error goes.
    public enum StandardError: Sendable {
        /// Collected on its own, in ``Finished/stderr``.
        case separate
        /// Into the same stream as standard output, interleaved as written (`2>&1`).
        case combinedWithOutput
    }

    /// More output than the run collects: the program is killed, for a runaway program
    /// must fail its test rather than fill the memory.
    public struct OutputLimitExceeded: Error, CustomStringConvertible {
        public var stream: String
        public var limit: Int
        public var description: String { "the program wrote more than \(limit) bytes to its \(stream)" }
    }

    /// The full path of `name` on PATH, or nil.
    public static func find(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// Runs `executable` (a path) with `arguments`, this process's environment updated
    /// with `environment`, and no standard input. When it is still running after
    /// `timeout` it is killed by its pid (SIGKILL) and the result says `timedOut`.
    /// Each of standard output and standard error is collected up to `limit` bytes;
    /// a program that writes more is killed and the run throws ``OutputLimitExceeded``.
    public static func run(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String] = [:],
        timeout: Duration,
        standardError: StandardError = .separate,
        limit: Int = 16 << 20
    ) async throws -> Finished {
        let configuration = Configuration(
            executable: .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(Dictionary(uniqueKeysWithValues: environment.compactMap { key, value in
                Environment.Key(rawValue: key).map { ($0, Optional(value)) }
            }))
        )
        switch standardError {
        case .separate:
            let result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) { execution in
                try await collect(execution.standardOutput, execution.standardError, timeout: timeout, limit: limit) {
                    try execution.send(signal: .kill)
                }
            }
            return Finished(status: result.terminationStatus, stdout: result.closureResult.stdout,
                            stderr: result.closureResult.stderr, timedOut: result.closureResult.timedOut)
        case .combinedWithOutput:
            let result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .combinedWithOutput) { execution in
                try await collect(execution.standardOutput, nil, timeout: timeout, limit: limit) {
                    try execution.send(signal: .kill)
                }
            }
            return Finished(status: result.terminationStatus, stdout: result.closureResult.stdout,
                            stderr: "", timedOut: result.closureResult.timedOut)
        }
    }

    private struct Collected: Sendable {
        var stdout = "", stderr = "", timedOut = false
    }

    private enum Part: Sendable {
        case stdout(String), stderr(String), deadlinePassed, deadlineCancelled
    }

    /// Reads both streams to their end while a timer waits for the deadline. The streams
    /// end when the program exits (Subprocess ends them then, even if a grandchild still
    /// holds the pipes), so the timer is cancelled at exit and nothing polls. The pid
    /// stays unreaped until this returns, so `kill` cannot reach a reused pid.
    private static func collect(
        _ output: SubprocessOutputSequence,
        _ error: SubprocessOutputSequence?,
        timeout: Duration,
        limit: Int,
        kill: @escaping @Sendable () throws -> Void
    ) async throws -> Collected {
        try await withThrowingTaskGroup(of: Part.self) { group in
            group.addTask { .stdout(try await read(output, limit: limit, stream: "standard output")) }
            if let error {
                group.addTask { .stderr(try await read(error, limit: limit, stream: "standard error")) }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    try kill()
                    return .deadlinePassed
                } catch {
                    // Cancelled: the streams ended first. Or the kill failed: the program ended
                    // on its own just as the deadline passed, so it did not overrun.
                    return .deadlineCancelled
                }
            }
            var collected = Collected()
            var streamsOpen = error == nil ? 1 : 2
            while let part = try await group.next() {
                switch part {
                case .stdout(let text): collected.stdout = text; streamsOpen -= 1
                case .stderr(let text): collected.stderr = text; streamsOpen -= 1
                case .deadlinePassed: collected.timedOut = true
                case .deadlineCancelled: break
                }
                if streamsOpen == 0 { group.cancelAll() }
            }
            return collected
        }
    }

    private static func read(_ sequence: SubprocessOutputSequence, limit: Int, stream: String) async throws -> String {
        var bytes: [UInt8] = []
        for try await buffer in sequence {
            guard bytes.count + buffer.count <= limit else { throw OutputLimitExceeded(stream: stream, limit: limit) }
            buffer.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A child that runs while a test goes on (a server, a busy loop): started, read line by
/// line, signalled and stopped through its pid (its pidfd on Linux).
///
/// The child's standard output and standard error (together) must stay open until it
/// exits, as they do for gpoll-server and `sh -c`: this object can signal the child
/// while it reads them, and no longer (``stop()`` would then wait for the child's own end).
public final class RunningProgram: Sendable {
    /// The child's pid.
    public let processIdentifier: pid_t
    /// The child's standard output and standard error, line by line as written. Up to
    /// 10,000 unread lines wait for a reader; lines past those are dropped, so a chatty
    /// child that nobody reads cannot fill the memory (nor block on a full pipe).
    public let lines: AsyncStream<String>

    private let signaller: Signaller
    private let run: Task<TerminationStatus, any Error>

    /// Sends the child's signals while Subprocess keeps it unreaped: set from the start of
    /// the run's body to its end, so no signal can reach another process that reuses the pid.
    private final class Signaller: Sendable {
        let send = Mutex<(@Sendable (Signal) throws -> Void)?>(nil)
    }

    private init(processIdentifier: pid_t, lines: AsyncStream<String>, signaller: Signaller,
                 run: Task<TerminationStatus, any Error>) {
        self.processIdentifier = processIdentifier
        self.lines = lines
        self.signaller = signaller
        self.run = run
    }

    /// Starts `executable` (a path) with `arguments` and this process's environment.
    public static func start(_ executable: String, _ arguments: [String] = []) async throws -> RunningProgram {
        let (lines, linesContinuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        let (started, startedContinuation) = AsyncThrowingStream<pid_t, any Error>.makeStream()
        let signaller = Signaller()
        let run = Task<TerminationStatus, any Error> {
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments),
                    input: .none, output: .sequence, error: .combinedWithOutput
                ) { execution in
                    signaller.send.withLock { $0 = { signal in try execution.send(signal: signal) } }
                    startedContinuation.yield(execution.processIdentifier.value)
                    startedContinuation.finish()
                    defer {
                        signaller.send.withLock { $0 = nil }
                        linesContinuation.finish()
                    }
                    for try await line in execution.standardOutput.strings() {
                        linesContinuation.yield(line)
                    }
                }
                return result.terminationStatus
            } catch {
                startedContinuation.finish(throwing: error)
                linesContinuation.finish()
                throw error
            }
        }
        guard let pid = try await started.first(where: { _ in true }) else {
            throw CancellationError()  // only when the run ended without starting and without an error
        }
        return RunningProgram(processIdentifier: pid, lines: lines, signaller: signaller, run: run)
    }

    /// Sends `signal` to the child; false when it has already ended.
    @discardableResult
    public func send(_ signal: Signal) -> Bool {
        signaller.send.withLock { send in
            guard let send else { return false }
            return (try? send(signal)) != nil
        }
    }

    /// Waits until the child has ended, and says how.
    public func wait() async throws -> TerminationStatus {
        try await run.value
    }

    /// Kills the child (SIGKILL) if it still runs and waits until it has ended.
    public func stop() async {
        send(.kill)
        _ = try? await run.value
    }
}
