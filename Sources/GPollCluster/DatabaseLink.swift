import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The node's one connection for queries, made on first use and again after it
/// broke. postgres-nio queues the queries of concurrent callers on it in order.
actor DatabaseLink {
    private let configuration: PostgresConnection.Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private var current: PostgresConnection?
    private var connecting: Task<PostgresConnection, any Error>?
    private var nextID = 1

    init(configuration: PostgresConnection.Configuration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
    }

    /// The open connection, or a new one; throws if the database cannot be reached.
    func connection() async throws -> PostgresConnection {
        if let current, !current.isClosed { return current }
        if let stale = current {
            current = nil
            try? await stale.close()
        }
        if let connecting { return try await connecting.value }
        let (configuration, loop, logger, id) = (self.configuration, group.any(), self.logger, nextID)
        nextID += 1
        let task = Task { try await PostgresConnection.connect(on: loop, configuration: configuration, id: id, logger: logger) }
        connecting = task
        defer { connecting = nil }
        let made = try await task.value
        current = made
        return made
    }

    /// The connection failed a query or did not answer it in time: close it, which
    /// fails every query still waiting on it, so the next caller connects anew.
    func discard(_ connection: PostgresConnection) async {
        if current === connection { current = nil }
        try? await connection.close()
    }

    func close() async {
        if let connecting { _ = try? await connecting.value }
        if let current { try? await current.close() }
        current = nil
    }
}

/// Wakes every task waiting in ``wait(atMost:)`` at once; a wait also ends after its limit.
final class WakeSignal: Sendable {
    private struct Waiters {
        var next = 0
        var continuations: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waits whose timer fired before their continuation was stored.
        var expired: Set<Int> = []
    }

    private let waiters = Mutex(Waiters())

    func signal() {
        let woken = waiters.withLock { state in
            defer { state.continuations.removeAll() }
            return Array(state.continuations.values)
        }
        for continuation in woken { continuation.resume() }
    }

    func wait(atMost limit: Duration) async {
        let id = waiters.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            resume(id)
        }
        await withCheckedContinuation { continuation in
            let late = waiters.withLock { state in
                if state.expired.remove(id) != nil { return true }
                state.continuations[id] = continuation
                return false
            }
            if late { continuation.resume() }
        }
        timer.cancel()
    }

    private func resume(_ id: Int) {
        let continuation = waiters.withLock { state in
            guard let continuation = state.continuations.removeValue(forKey: id) else {
                state.expired.insert(id)
                return nil as CheckedContinuation<Void, Never>?
            }
            return continuation
        }
        continuation?.resume()
    }
}
