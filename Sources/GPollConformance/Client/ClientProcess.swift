import GPollWire
import Foundation
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// One line the client under test printed, read as the line protocol
/// (Conformance/README.md, "Checking a client").
public enum ClientEvent: Sendable, Equatable {
    case registered(clientID: String?)
    /// A message passed to the application: its bytes.
    case message([UInt8])
    /// The client registered again and says messages may have been missed (CL-14).
    case registeredAgain(clientID: String?)
    case backoff(seconds: Double?, reason: String?)
    case closed(reason: String?)
    /// A JSON object with an event this tester does not know: ignored.
    case unknown(String)
    /// Not a JSON object, nor one of Spec 19.8's plain lines: ignored, noted.
    case notProtocol(String)

    /// Reads one line. Besides the JSON lines, Spec section 19.8's plain form is
    /// understood: `message <lowercase hex>` and `gap`.
    public static func parse(_ line: String) -> ClientEvent {
        if line == "gap" { return .registeredAgain(clientID: nil) }
        if line.hasPrefix("message "), let bytes = hexBytes(line.dropFirst("message ".count)) { return .message(bytes) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let event = object["event"] as? String else { return .notProtocol(line) }
        switch event {
        case "registered": return .registered(clientID: object["client-id"] as? String)
        case "registered-again": return .registeredAgain(clientID: object["client-id"] as? String)
        case "message":
            guard let data = object["data"] as? String, let bytes = Data(base64Encoded: data) else { return .notProtocol(line) }
            return .message(Array(bytes))
        case "backoff": return .backoff(seconds: (object["seconds"] as? NSNumber)?.doubleValue, reason: object["reason"] as? String)
        case "closed": return .closed(reason: object["reason"] as? String)
        default: return .unknown(line)
        }
    }

    private static func hexBytes(_ text: Substring) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

/// A running client under test: started with `{url}` replaced, its standard output
/// read line by line as events, its standard error kept (client/022), and stopped
/// with SIGTERM, then SIGKILL after a grace period, sent to its process group (it runs
/// in a session of its own, so a shell script's children go too).
public final class ClientProcess: Sendable {
    public struct Printed: Sendable {
        public var at: Duration
        public var line: String
        public var event: ClientEvent
    }

    private struct State {
        var printed: [Printed] = []
        var partialLine: [UInt8] = []
        var standardError: [UInt8] = []
        var outputEnded = false
        /// When its output ended before the case stopped it (it exited on its own).
        var endedUnasked: Duration?
        var termination: String?
        var stopRequested = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var launchError: String?
    }

    /// Standard error kept for client/022; beyond this it is dropped.
    static let standardErrorLimit = 1 << 20

    public let label: String
    private let state = Mutex(State())
    private let start: ContinuousClock.Instant
    private let transcript: Transcript
    private let finished = Mutex<Task<Void, Never>?>(nil)

    /// Starts `command` (the first element is the program: a path, or a name looked up in PATH).
    static func launch(_ command: [String], label: String, start: ContinuousClock.Instant, transcript: Transcript,
                       grace: Duration) -> ClientProcess {
        let process = ClientProcess(label: label, start: start, transcript: transcript)
        transcript.note("starting the client: \(command.joined(separator: " "))", connection: label)
        let task = Task { await process.run(command, grace: grace) }
        process.finished.withLock { $0 = task }
        return process
    }

    private init(label: String, start: ContinuousClock.Instant, transcript: Transcript) {
        self.label = label
        self.start = start
        self.transcript = transcript
    }

    public var printed: [Printed] { state.withLock { $0.printed } }
    public var events: [ClientEvent] { printed.map(\.event) }
    public var messages: [[UInt8]] {
        events.compactMap { if case .message(let bytes) = $0 { return bytes } else { return nil } }
    }
    public var standardError: [UInt8] { state.withLock { $0.standardError } }
    /// Why the program could not be started, if it could not.
    public var launchError: String? { state.withLock { $0.launchError } }
    /// Its standard output and error have ended (it exited, or closed them).
    public var hasEnded: Bool { state.withLock { $0.outputEnded } }

    /// `exited at 0.25 s (exited(3))` when it ended before the case stopped it: a client
    /// under test runs until SIGTERM, so a finding should say so.
    public var endedOnItsOwn: String? {
        state.withLock { state in
            state.endedUnasked.map { "\(label) ended on its own at \(describe($0))" + (state.termination.map { " (\($0))" } ?? "") }
        }
    }

    private func run(_ command: [String], grace: Duration) async {
        guard let program = command.first else { return }
        var options = PlatformOptions()
        options.createSession = true
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let configuration = Configuration(executable: executable, arguments: Arguments(Array(command.dropFirst())),
                                          environment: .inherit, platformOptions: options)
        do {
            let result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) { execution in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await buffer in execution.standardOutput {
                                self.received(buffer.withUnsafeBytes { Array($0) })
                            }
                        } catch {}
                        self.received(nil)
                    }
                    group.addTask {
                        do {
                            for try await buffer in execution.standardError {
                                let bytes = buffer.withUnsafeBytes { Array($0) }
                                self.state.withLock { state in
                                    let room = max(0, Self.standardErrorLimit - state.standardError.count)
                                    state.standardError += bytes.prefix(room)
                                }
                            }
                        } catch {}
                    }
                    group.addTask {
                        await self.waitForStop()
                        try? execution.send(signal: .terminate, toProcessGroup: true)
                        let deadline = ContinuousClock.now + grace
                        while ContinuousClock.now < deadline, !self.hasEnded {
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                        if !self.hasEnded {
                            self.transcript.note("still running \(grace) after SIGTERM: SIGKILL", connection: self.label)
                        }
                        // Also when it ended: a child it left behind in its group goes too.
                        try? execution.send(signal: .kill, toProcessGroup: true)
                    }
                }
            }
            state.withLock { $0.termination = "\(result.terminationStatus)" }
            transcript.note("the client ended: \(result.terminationStatus)", connection: label)
        } catch {
            state.withLock { $0.launchError = "\(error)" }
            transcript.note("the client could not be started: \(error)", connection: label)
            received(nil)
        }
    }

    /// Standard output bytes (nil: it ended), split into lines.
    private func received(_ bytes: [UInt8]?) {
        let at = ContinuousClock.now - start
        let lines: [String] = state.withLock { state in
            guard let bytes else {
                state.outputEnded = true
                if !state.stopRequested { state.endedUnasked = at }
                guard !state.partialLine.isEmpty else { return [] }
                defer { state.partialLine = [] }
                return [String(decoding: state.partialLine, as: UTF8.self)]
            }
            state.partialLine += bytes
            var lines: [String] = []
            while let newline = state.partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(state.partialLine[..<newline])
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                lines.append(String(decoding: line, as: UTF8.self))
                state.partialLine.removeSubrange(...newline)
            }
            return lines
        }
        for line in lines {
            let event = ClientEvent.parse(line)
            state.withLock { $0.printed.append(Printed(at: at, line: line, event: event)) }
            let shown = Transcript.escape(Array(line.utf8), limit: 300)
            if case .notProtocol = event {
                transcript.note("printed (not the line protocol, ignored): \(shown)", connection: label)
            } else {
                transcript.note("printed: \(shown)", connection: label)
            }
        }
    }

    private func waitForStop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.stopRequested { return true }
                state.stopWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// SIGTERM, then SIGKILL after the grace period; returns once it is gone.
    func stop() async {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopRequested = true
            defer { state.stopWaiters = [] }
            return state.stopWaiters
        }
        for waiter in waiters { waiter.resume() }
        await finished.withLock { $0 }?.value
    }
}
