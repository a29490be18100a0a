import GPollSpec
import GPollWire
import Foundation
import GPollCore
import Synchronization

/// One client case of the registry: the catalog id, how long it may take, and the
/// code that plays it. Title, level, requirements and needs come from the catalog.
public struct ClientConformanceCase: Sendable {
    public let id: String
    /// The case's time limit: beyond it the case is an ERROR.
    public let limit: Duration
    public let run: @Sendable (ClientCaseContext) async throws -> Void

    public init(_ id: String, limit: Duration, run: @escaping @Sendable (ClientCaseContext) async throws -> Void) {
        self.id = id
        self.limit = limit
        self.run = run
    }
}

/// What a client case works with: its scripted endpoints, the client under test
/// (started on demand, stopped at the end), the wire log and the transcript.
public final class ClientCaseContext: Sendable {
    public let caseID: String
    public let transcript: Transcript
    public let log: ClientWireLog
    /// The client under test told the tester it implements acknowledged delivery (`--ack`).
    public let clientUsesAck: Bool
    private let command: [String]
    private let grace: Duration
    private let catalog: Catalog
    private let caseLevel: Catalog.Level
    private let start: ContinuousClock.Instant
    private let owned = Mutex<(endpoints: [ScriptedEndpoint], processes: [ClientProcess])>(([], []))

    init(caseID: String, caseLevel: Catalog.Level, catalog: Catalog, command: [String], clientUsesAck: Bool,
         grace: Duration) {
        let start = ContinuousClock.now
        let transcript = Transcript(start: start)
        self.caseID = caseID
        self.caseLevel = caseLevel
        self.catalog = catalog
        self.command = command
        self.clientUsesAck = clientUsesAck
        self.grace = grace
        self.start = start
        self.transcript = transcript
        self.log = ClientWireLog(start: start, transcript: transcript)
    }

    /// Since the case started.
    public var now: Duration { ContinuousClock.now - start }
    public var requests: [ClientRequest] { log.requests }

    /// Starts a scripted endpoint (listener 0 first, then 1, ...).
    public func serve(path: String = "/poll", _ script: @escaping ClientScript) async throws -> ScriptedEndpoint {
        let listener = owned.withLock { $0.endpoints.count }
        let endpoint: ScriptedEndpoint
        do {
            endpoint = try await ScriptedEndpoint.start(log: log, listener: listener, path: path, script: script)
        } catch {
            throw CaseStop.couldNotRun("cannot listen on 127.0.0.1: \(error)")
        }
        owned.withLock { $0.endpoints.append(endpoint) }
        transcript.note("scripted endpoint \(endpoint.url)")
        return endpoint
    }

    /// Starts the client under test with `{url}` in its arguments replaced by `url`.
    @discardableResult
    public func launch(_ url: String) async throws -> ClientProcess {
        let label = owned.withLock { "client\($0.processes.count + 1)" }
        let arguments = command.map { $0.replacingOccurrences(of: "{url}", with: url) }
        let process = ClientProcess.launch(arguments, label: label, start: start, transcript: transcript, grace: grace)
        owned.withLock { $0.processes.append(process) }
        // A program that does not exist fails at once; give it a moment to say so.
        try? await Task.sleep(for: .milliseconds(50))
        if let problem = process.launchError { throw CaseStop.couldNotRun("cannot start the client under test: \(problem)") }
        return process
    }

    /// Waits until `condition` holds (checked every 20 ms) or `within` has passed;
    /// returns whether it held. When every client under test has ended (exited, or
    /// closed its output), nothing more can happen: the wait ends after a last look.
    @discardableResult
    public func wait(within: Duration, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + within
        while true {
            if condition() { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            let processes = owned.withLock { $0.processes }
            if !processes.isEmpty && processes.allSatisfy(\.hasEnded) {
                // Let the scripted server record what the exit closed.
                try? await Task.sleep(for: .milliseconds(100))
                return condition()
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The first request after request `index` (any request when nil) that matches,
    /// waiting up to `within` for it.
    public func request(after index: Int?, within: Duration, where matches: (ClientRequest) -> Bool = { _ in true }) async -> ClientRequest? {
        var found: ClientRequest?
        await wait(within: within) {
            found = log.requests.first { $0.index > (index ?? -1) && matches($0) }
            return found != nil
        }
        return found
    }

    /// Lets `duration` pass.
    public func pause(_ duration: Duration) async { try? await Task.sleep(for: duration) }

    /// The broken expectation, with the requirement's level (a SHOULD is a WARN).
    func fail(_ requirement: String, expected: String, actual: String) -> CaseStop {
        let level = catalog.requirement(requirement)?.level ?? caseLevel
        return .broken(Finding(requirement: requirement, level: level, expected: expected, actual: actual))
    }

    public func check(_ condition: Bool, _ requirement: String, expected: String, actual: @autoclosure () -> String) throws {
        if !condition { throw fail(requirement, expected: expected, actual: actual()) }
    }

    public func note(_ text: String) { transcript.note(text) }

    /// Why a client under test could not be started, if one could not: the case
    /// then proves nothing about it (ERROR), whatever it found.
    var launchProblem: String? {
        owned.withLock { $0.processes }.lazy.compactMap(\.launchError).first
    }

    /// Clients that ended before the case stopped them, described.
    /// The backoff delays the clients under test reported (line protocol `backoff`
    /// events), in the order printed.
    var reportedBackoffs: [Duration] {
        owned.withLock { $0.processes }.flatMap(\.events).compactMap { event -> Duration? in
            guard case .backoff(let seconds?, _) = event, seconds.isFinite, seconds >= 0 else { return nil }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
    }

    var endedOnTheirOwn: [String] { owned.withLock { $0.processes }.compactMap(\.endedOnItsOwn) }

    /// The URL of the case's first endpoint (what the client was given), for reports.
    var endpointURL: String? { owned.withLock { $0.endpoints.first?.url } }

    /// Stops every client (SIGTERM, then SIGKILL), then every endpoint.
    func finish() async {
        let (endpoints, processes) = owned.withLock { ($0.endpoints, $0.processes) }
        await withTaskGroup(of: Void.self) { group in
            for process in processes { group.addTask { await process.stop() } }
        }
        for endpoint in endpoints { await endpoint.stop() }
    }
}

// MARK: - Pieces the scripts share

/// A fresh id of the reference form, `0$<uuid>`.
func freshClientID() -> String { "0$" + UUID().uuidString.lowercased() }

/// The handshake object `{"client-id":"<id>"}` with advertised members after it.
func handshakeBody(_ id: String, extra: String = "") -> [UInt8] {
    var escaped = ""
    for scalar in id.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return Array("{\"client-id\":\"\(escaped)\"\(extra.isEmpty ? "" : "," + extra)}".utf8)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func describe(_ duration: Duration) -> String { String(format: "%.3f s", seconds(duration)) }

/// The bytes as lowercase hex, as findings show messages.
func hex(_ bytes: [UInt8]) -> String {
    bytes.map { $0 < 0x10 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

func describeMessages(_ messages: [[UInt8]]) -> String {
    messages.isEmpty ? "no message" : messages.map { "[\(hex($0))]" }.joined(separator: " ")
}

/// `V=...` of a request for findings.
func describeRequests(_ requests: [ClientRequest]) -> String {
    requests.isEmpty ? "no request" : requests.map { "\($0.line) at \(describe($0.at))" }.joined(separator: "; ")
}
