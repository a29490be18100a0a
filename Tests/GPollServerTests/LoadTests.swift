import Foundation
import GPollCore
import GPollServer
import NIOCore
import Testing

/// A lock-step broadcast load run, opt-in because it takes a while and measures
/// rather than checks: `GPOLL_LOAD_CLIENTS=5000 swift test --filter LoadTests`.
/// Client and server share this process (and its file descriptor limit, so keep
/// clients under half of `ulimit -n`); gpoll-bench measures over separate processes.
@Suite("load (opt-in)")
struct LoadTests {
    static let clients = ProcessInfo.processInfo.environment["GPOLL_LOAD_CLIENTS"].flatMap(Int.init)

    @Test("lock-step broadcast to many waiting polls", .enabled(if: clients != nil))
    func lockStep() async throws {
        FileDescriptorLimit.raiseToHardLimit()
        let count = Self.clients ?? 0
        let rounds = ProcessInfo.processInfo.environment["GPOLL_LOAD_ROUNDS"].flatMap(Int.init) ?? 20
        try await withServer(endpoints: [("/poll", BroadcasterConfiguration(pollTimeout: .seconds(120)))]) { server in
            var connections: [(TestConnection, ClientID)] = []
            for batch in stride(from: 0, to: count, by: 500) {
                let made = try await withThrowingTaskGroup(of: (TestConnection, ClientID).self) { group in
                    for _ in batch..<min(batch + 500, count) {
                        group.addTask {
                            let connection = try await server.connect()
                            return (connection, try await server.handshake(connection))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                connections += made
            }
            let message = [UInt8](repeating: 0x61, count: 64)
            var delivered = 0
            var elapsed = Duration.zero
            for _ in 0..<rounds {
                let polls = connections.map { connection, id in connection.send(server.pollTarget(id), timeout: .seconds(60)) }
                try await waitUntil("every poll waits", timeout: .seconds(60)) { server.endpoint.waitingPollCount == count }
                let started = ContinuousClock.now
                server.endpoint.send(message)
                for poll in polls where try await poll.get().body == message { delivered += 1 }
                elapsed += ContinuousClock.now - started
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("load: \(count) clients, \(rounds) rounds, \(delivered) deliveries in \(seconds) s of broadcast: \(Int(Double(delivered) / seconds)) deliveries/s")
            #expect(delivered == count * rounds)
            for (connection, _) in connections { await connection.close() }
        }
    }
}
