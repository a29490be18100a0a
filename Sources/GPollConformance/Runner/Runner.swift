import Foundation
import Synchronization

/// Runs selected cases: parallel-safe ones concurrently, publishing ones one at a
/// time, client-limit ones alone at the end; each under the per-case timeout.
public struct ConformanceRunner: Sendable {
    public let catalog: CatalogView
    public let registry: [ConformanceCase]
    public let settings: Settings

    public init(catalog: CatalogView, registry: [ConformanceCase], settings: Settings) {
        self.catalog = catalog
        self.registry = registry
        self.settings = settings
    }

    /// One planned case: its catalog entry, its code, and why it will be skipped (if so).
    public struct Planned: Sendable {
        public var entry: CatalogView.Case
        public var code: ConformanceCase?
        public var skipReason: String?
    }

    /// The selected, non-retired catalog cases in catalog order.
    public func plan(_ selection: CaseSelection) -> [Planned] {
        catalog.activeCases.filter { selection.selects($0.id) }.map { entry in
            let code = registry.first { $0.id == entry.id }
            let reason = code == nil ? "no code for this case in this gpoll-conform build" : settings.unmetNeed(entry.needs)
            return Planned(entry: entry, code: code, skipReason: reason)
        }
    }

    /// Checks that the poll URL answers at all; the message says why not. Run before
    /// any case, so that an unreachable target is a usage problem (exit 2), not 60 ERRORs.
    public func preflight(client: WireClient) async -> String? {
        let transcript = Transcript()
        do {
            let connection = try await client.connect(to: settings.pollURL, transcript: transcript)
            // A handshake is the one request every gpoll server must answer at once.
            let event = try await connection.exchange(WireRequest(target: settings.pollURL.target(clientID: Array("0".utf8))),
                                                      within: .seconds(5))
            await connection.close()
            if event.response == nil { return "\(settings.pollURL) gave \(event.summary) to a handshake" }
            return nil
        } catch {
            return "\(error)"
        }
    }

    public func run(_ selection: CaseSelection, client: WireClient,
                    onResult: @escaping @Sendable (CaseResult) -> Void = { _ in }) async -> [CaseResult] {
        let planned = plan(selection)
        let runToken = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var results: [String: CaseResult] = [:]
        var parallel: [(Int, Planned)] = [], serial: [(Int, Planned)] = [], exclusive: [(Int, Planned)] = []

        for (index, item) in planned.enumerated() {
            if let reason = item.skipReason {
                let result = CaseResult(id: item.entry.id, title: item.entry.title, section: item.entry.section,
                                        level: item.entry.level, requirements: item.entry.requirements,
                                        outcome: .skip, reason: reason)
                results[item.entry.id] = result
                onResult(result)
                continue
            }
            switch item.code!.effectiveScheduling(needs: item.entry.needs) {
            case .parallel: parallel.append((index, item))
            case .serial: serial.append((index, item))
            case .exclusive: exclusive.append((index, item))
            }
        }

        let prefix = { (index: Int) in "gc\(runToken)c\(index)" }
        // Phase 1: no publishing, so cases cannot disturb each other: run them together.
        await withTaskGroup(of: CaseResult.self) { group in
            var pending = parallel[...]
            var running = 0
            while let (index, item) = pending.popFirst() {
                if running >= max(1, settings.parallelism), let result = await group.next() {
                    running -= 1
                    results[result.id] = result
                    onResult(result)
                }
                let casePrefix = prefix(index)
                group.addTask { await runOne(item, client: client, prefix: casePrefix) }
                running += 1
            }
            for await result in group {
                results[result.id] = result
                onResult(result)
            }
        }
        // Phases 2 and 3: one at a time.
        for (index, item) in serial + exclusive {
            let result = await runOne(item, client: client, prefix: prefix(index))
            results[result.id] = result
            onResult(result)
        }
        return planned.compactMap { results[$0.entry.id] }
    }

    private enum Completion: Sendable {
        case finished((any Error)?)
        case timedOut
    }

    func runOne(_ item: Planned, client: WireClient, prefix: String) async -> CaseResult {
        let entry = item.entry
        let transcript = Transcript()
        let context = CaseContext(settings: settings, client: client, catalog: catalog, caseID: entry.id,
                                  caseLevel: entry.level, transcript: transcript, prefix: prefix)
        let start = ContinuousClock.now
        let body = item.code!.run
        let completion = await Self.withDeadline(settings.caseTimeout) { try await body(context) }
        await context.closeAll()
        let elapsed = ContinuousClock.now - start
        var result = CaseResult(id: entry.id, title: entry.title, section: entry.section, level: entry.level,
                                requirements: entry.requirements, outcome: .pass,
                                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        switch completion {
        case .finished(nil):
            break
        case .finished(let error as CaseStop):
            switch error {
            case .broken(let finding):
                result.finding = finding
                result.outcome = finding.level == .must || settings.strict ? .fail : .warn
            case .couldNotRun(let reason):
                result.outcome = .error
                result.reason = reason
            }
        case .finished(let error?):
            result.outcome = .error
            result.reason = "\(error)"
        case .timedOut:
            result.outcome = .error
            result.reason = "timed out after \(settings.caseTimeout)"
        }
        result.transcript = transcript.entries
        return result
    }

    /// Races the body against the deadline without waiting for a body that overran:
    /// its connections are closed by the caller, which ends its waits soon after.
    private static func withDeadline(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Void) async -> Completion {
        let slot = Mutex<CheckedContinuation<Completion, Never>?>(nil)
        let resume: @Sendable (Completion) -> Void = { completion in
            slot.withLock { continuation in
                continuation?.resume(returning: completion)
                continuation = nil
            }
        }
        return await withCheckedContinuation { continuation in
            slot.withLock { $0 = continuation }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { resume(.timedOut) }
            }
            Task {
                do { try await body(); resume(.finished(nil)) } catch { resume(.finished(error)) }
                timer.cancel()
            }
        }
    }
}
