import NIOCore
import Synchronization

/// Counters every connection of a run updates, from any event loop.
final class RunCounters: Sendable {
    let handshakes = Atomic<Int>(0)
    let handshakeFailures = Atomic<Int>(0)
    let timeouts = Atomic<Int>(0)
    let lost = Atomic<Int>(0)
    let evicted = Atomic<Int>(0)
    let duplicates = Atomic<Int>(0)
    let outOfOrder = Atomic<Int>(0)
    let foreign = Atomic<Int>(0)
    /// Publish requests written (a poll's 404 is judged against this).
    let publishesSent = Atomic<Int>(0)
    /// The driver's phase, for the progress line.
    let phase = Atomic<Int>(0)
    /// Messages published so far, for the progress line.
    let publishedCount = Atomic<Int>(0)
    /// Set before the bench closes its connections: closes after it are not errors.
    let stopping = Atomic<Bool>(false)
    private let errorKinds = Mutex<[String: Int]>([:])

    func error(_ kind: String) {
        errorKinds.withLock { $0[kind, default: 0] += 1 }
    }

    var errors: [String: Int] { errorKinds.withLock { $0 } }
    var errorCount: Int { errorKinds.withLock { $0.values.reduce(0, +) } }
    var isStopping: Bool { stopping.load(ordering: .relaxed) }
}

/// Knows how many unique deliveries the live clients have had in sum, and wakes
/// the driver once every live client has all of the first `target` messages.
///
/// Each client receives message n at most once and none beyond those published,
/// so "every live client has all `target` messages" is exactly
/// `sum of their unique deliveries == live clients × target`. A client that
/// dies takes its own deliveries out of the sum.
final class DeliveryGate: Sendable {
    private struct State {
        var live = 0
        var sum: UInt64 = 0
        var total: UInt64 = 0
        var target: UInt64 = 0
        var waiter: CheckedContinuation<Bool, Never>?
        var generation = 0
        var timer: Scheduled<Void>?

        var complete: Bool { sum >= UInt64(live) * target }

        mutating func takeWaiterIfComplete() -> (CheckedContinuation<Bool, Never>, Scheduled<Void>?)? {
            guard let waiter, complete else { return nil }
            self.waiter = nil
            defer { timer = nil }
            return (waiter, timer)
        }
    }

    private let state = Mutex(State())

    func joined() { state.withLock { $0.live += 1 } }

    func delivered() {
        let wake = state.withLock { state in
            state.sum += 1
            state.total += 1
            return state.takeWaiterIfComplete()
        }
        if let (waiter, timer) = wake {
            timer?.cancel()
            waiter.resume(returning: true)
        }
    }

    /// A live client stopped (lost, evicted, failed) after `received` unique deliveries.
    func gone(received: UInt64) {
        let wake = state.withLock { state in
            state.live -= 1
            state.sum -= received
            return state.takeWaiterIfComplete()
        }
        if let (waiter, timer) = wake {
            timer?.cancel()
            waiter.resume(returning: true)
        }
    }

    var liveClients: Int { state.withLock { $0.live } }
    /// Unique deliveries so far, of every client that ever was live.
    var totalDeliveries: UInt64 { state.withLock { $0.total } }
    /// Deliveries the live clients still lack for the current target.
    var outstanding: UInt64 {
        state.withLock { s in
            let want = UInt64(s.live) * s.target
            return want > s.sum ? want - s.sum : 0
        }
    }

    /// Waits until every live client has the first `target` messages; false if
    /// `timeout` passed first.
    func wait(forTarget target: UInt64, timeout: TimeAmount, timerLoop: any EventLoop) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let generation: Int? = state.withLock { state in
                state.target = target
                if state.complete { return nil }
                state.waiter = continuation
                state.generation += 1
                return state.generation
            }
            guard let generation else {
                continuation.resume(returning: true)
                return
            }
            let timer = timerLoop.scheduleTask(in: timeout) { [self] in
                let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard state.generation == generation, let waiter = state.waiter else { return nil }
                    state.waiter = nil
                    state.timer = nil
                    return waiter
                }
                waiter?.resume(returning: false)
            }
            state.withLock { state in
                if state.generation == generation, state.waiter != nil { state.timer = timer }
            }
        }
    }
}

/// What one event loop's clients gathered; touched only on that loop.
final class LoopTally: @unchecked Sendable {
    var latency = LatencyRecorder()
    var clients: [PollClientHandler] = []
}
