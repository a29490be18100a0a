/// `limit` passed before the work it bounded returned.
struct DeadlinePassed: Error, Sendable {
    var limit: Duration
}

/// Runs `work` and returns what it returns or throws, or throws ``DeadlinePassed``
/// once `limit` has passed, whichever comes first: the caller gets an answer by
/// then at the latest, even from work that never ends. Throws `CancellationError`
/// at once if the caller is cancelled.
///
/// The work runs in a task of its own, which goes on (cancelled) after this
/// returned early: postgres-nio does not give up a query on cancellation, so a
/// caller that must end stuck work closes the connection it is stuck on.
func withDeadline<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    // The first outcome is kept; the loser's is dropped.
    let (outcomes, outcome) = AsyncStream.makeStream(of: Result<T, any Error>.self, bufferingPolicy: .bufferingOldest(1))
    let worker = Task {
        do { outcome.yield(.success(try await work())) } catch { outcome.yield(.failure(error)) }
    }
    let timer = Task {
        guard (try? await Task.sleep(for: limit)) != nil else { return }
        outcome.yield(.failure(DeadlinePassed(limit: limit)))
    }
    defer {
        timer.cancel()
        outcome.finish()
    }
    // Ends with nil when the caller is cancelled.
    for await first in outcomes {
        if case .failure(let error) = first, error is DeadlinePassed { worker.cancel() }
        return try first.get()
    }
    worker.cancel()
    throw CancellationError()
}
