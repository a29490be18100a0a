import Foundation
import GPollCore
import GPollTestSupport
import GPollWire
import NIOPosix
import Synchronization
import Testing

/// The built `gpoll-server` binary, next to the test bundle.
var gpollServerBinary: String? {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [directory, directory.deletingLastPathComponent()] {
        let url = candidate.appendingPathComponent("gpoll-server")
        if FileManager.default.isExecutableFile(atPath: url.path) { return url.path }
    }
    return nil
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// One `gpoll-server --cluster` process, its ports read from its start-up log,
/// and every line it logs kept for the test to look at.
final class NodeProcess: Sendable {
    let name: String
    let prefix: UInt32
    let port: Int
    let adminPort: Int
    let program: RunningProgram
    private let log: Mutex<[String]>

    private init(name: String, prefix: UInt32, port: Int, adminPort: Int, program: RunningProgram, log: [String]) {
        self.name = name
        self.prefix = prefix
        self.port = port
        self.adminPort = adminPort
        self.program = program
        self.log = Mutex(log)
    }

    /// Starts a node on ports 0 with T = `pollTimeout` seconds; returns once it listens.
    static func start(name: String, prefix: UInt32, database: String, pollTimeout: Int = 2, extra: [String] = []) async throws -> NodeProcess {
        let binary = try #require(gpollServerBinary, "build gpoll-server first (swift build builds it with the tests)")
        let program = try await RunningProgram.start(binary, [
            "--port", "0", "--admin-port", "0", "--poll-timeout", String(pollTimeout),
            "--cluster", database, "--node-name", name, "--node-prefix", String(prefix),
        ] + extra)
        var lines: [String] = []
        var iterator = program.lines.makeAsyncIterator()
        func port(after marker: String) -> Int? {
            guard let line = lines.first(where: { $0.contains(marker) }),
                  let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            else { return nil }
            return Int(line[range].split(separator: ":").last!)
        }
        while port(after: "admin listener started") == nil, let line = await iterator.next() {
            lines.append(line)
        }
        guard let gpoll = port(after: "gpoll listener started"), let admin = port(after: "admin listener started") else {
            await program.stop()
            throw HarnessError(description: "node \(name) did not start:\n" + lines.joined(separator: "\n"))
        }
        let node = NodeProcess(name: name, prefix: prefix, port: gpoll, adminPort: admin, program: program, log: lines)
        Task { [iterator] in
            var iterator = iterator
            while let line = await iterator.next() { node.log.withLock { $0.append(line) } }
        }
        return node
    }

    var logLines: [String] { log.withLock { $0 } }

    /// SIGKILL: the node dies without leaving the cluster.
    func kill() async { await program.stop() }

    /// SIGTERM and wait: a graceful stop.
    func stop() async {
        program.send(.terminate)
        _ = try? await program.wait()
    }
}

/// One HTTP request on a connection of its own (loopback), its response or the failure.
func httpRequest(port: Int, method: String = "GET", target: String, body: [UInt8] = [], within timeout: Duration = .seconds(15)) async throws -> WireResponse {
    let client = try sharedWireClient.get()
    let connection = try await client.connect(to: try Endpoint("http://127.0.0.1:\(port)/"), transcript: nil)
    defer { Task { await connection.close() } }
    let headers = body.isEmpty && method == "GET" ? [] : [("Content-Length", String(body.count))]
    switch try await connection.exchange(WireRequest(method: method, target: target, headers: headers, body: body), within: timeout) {
    case .response(let response): return response
    case let other: throw HarnessError(description: "\(method) \(target) on port \(port): \(other.summary)")
    }
}

private let sharedWireClient = Result { try WireClient(group: MultiThreadedEventLoopGroup.singleton) }

/// Publishes on a node's admin listener; true for 204.
func publish(_ text: String, adminPort: Int) async -> Bool {
    (try? await httpRequest(port: adminPort, method: "POST", target: "/publish", body: Array(text.utf8)))?.status == 204
}

/// A client of the cluster that polls with `ack` and keeps what it got, in order.
/// On 404, or when its node cannot be reached, it registers again through
/// `reRegisterPort` (a proxy, or a node still alive) and goes on.
final class ClusterClient: Sendable {
    struct Record: Sendable {
        /// Message bodies in the order they arrived.
        var received: [String] = []
        /// Ids it held, in order; more than one means it registered again.
        var ids: [ClientID] = []
        /// For each registration after the first: how many messages it had then.
        var reRegisteredAfter: [Int] = []
        /// Why each re-registration happened (404, or the failure).
        var reasons: [String] = []
    }

    private let state = Mutex(Record())
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// The `$` of the id as `%24` in the query (both spellings must reach the node).
    let encodesDollar: Bool

    var record: Record { state.withLock { $0 } }

    init(encodesDollar: Bool = false) { self.encodesDollar = encodesDollar }

    /// Registers through `handshakePort` and starts polling `pollPort(id)`;
    /// registers again through `reRegisterPort` (by default `handshakePort`).
    func start(handshakePort: Int, reRegisterPort: Int? = nil, pollPort: @escaping @Sendable (ClientID) -> Int) async throws {
        let first = try await register(port: handshakePort)
        let reRegisterPort = reRegisterPort ?? handshakePort
        state.withLock { $0.ids.append(first) }
        task.withLock {
            $0 = Task {
                var id = first
                var ack: UInt64 = 0
                while !Task.isCancelled {
                    let spelled = self.encodesDollar
                        ? id.description.replacingOccurrences(of: "$", with: "%24") : id.description
                    let outcome: String?
                    do {
                        let response = try await httpRequest(port: pollPort(id), target: "/poll?client-id=\(spelled)&ack=\(ack)")
                        switch response.status {
                        case 200:
                            ack = response.value("GPoll-Sequence").flatMap(UInt64.init) ?? ack + 1
                            let text = String(decoding: response.body, as: UTF8.self)
                            self.state.withLock { $0.received.append(text) }
                            outcome = nil
                        case 204: outcome = nil
                        default: outcome = "\(response.status)"
                        }
                    } catch {
                        outcome = "\(error)"
                    }
                    guard let outcome else { continue }
                    // Registered again: owed only what is published from now on.
                    guard let again = try? await self.register(port: reRegisterPort) else {
                        try? await Task.sleep(for: .milliseconds(200))
                        continue
                    }
                    id = again
                    ack = 0
                    self.state.withLock { record in
                        record.ids.append(again)
                        record.reRegisteredAfter.append(record.received.count)
                        record.reasons.append(outcome)
                    }
                }
            }
        }
    }

    private func register(port: Int) async throws -> ClientID {
        let response = try await httpRequest(port: port, target: "/poll?client-id=0")
        guard response.status == 200 else { throw HarnessError(description: "handshake answered \(response.status)") }
        return try HandshakeBody.decode(response.body).get()
    }

    /// Waits until `done(record)` holds, at most `limit` (then returns false).
    func wait(atMost limit: Duration = .seconds(60), until done: (Record) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if done(record) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return done(record)
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}

/// A PostgreSQL server for one test, and the nodes on it (each given `extra`
/// arguments too); everything stopped at the end.
func withCluster<T>(nodes count: Int, extra: [String] = [], _ body: (PostgresServer, [NodeProcess]) async throws -> T) async throws -> T {
    let database = try await PostgresServer.start()
    var nodes: [NodeProcess] = []
    do {
        for index in 1...count {
            nodes.append(try await NodeProcess.start(name: "node\(index)", prefix: UInt32(index), database: database.url, extra: extra))
        }
        let result = try await body(database, nodes)
        for node in nodes { await node.stop() }
        await database.stop()
        return result
    } catch {
        for node in nodes { await node.kill() }
        await database.stop()
        throw error
    }
}

/// The status of the node's `GET /readyz` (200 ready, 503 not), or nil if it did not answer.
func readiness(_ node: NodeProcess) async -> Int? {
    try? await httpRequest(port: node.adminPort, target: "/readyz", within: .seconds(10)).status
}

/// Whether `condition` held within `limit`, looked at every 100 ms.
func eventually(within limit: Duration = .seconds(60), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return await condition()
}

/// The messages of a run, named by their index so that order is visible in a failure.
func messages(_ range: Range<Int>) -> [String] { range.map { "m\($0)" } }
