/// The timing-sensitive runs (the reference server against the whole suite, with
/// T = 2 s and a short E) and the heavy proof runs (a dozen fake servers at once)
/// take turns: run together in one process on a small machine, B publishes to an
/// idle client could outlast E and fail a case for the machine's sake. Every test
/// target is linked into one test process, so this one actor serialises the heavy
/// runs of all of them (conformance, the cluster behind nginx).
public actor LoadGate {
    public static let shared = LoadGate()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }

    public static func exclusive<T>(_ body: () async throws -> T) async throws -> T {
        await shared.acquire()
        do {
            let value = try await body()
            await shared.release()
            return value
        } catch {
            await shared.release()
            throw error
        }
    }
}
