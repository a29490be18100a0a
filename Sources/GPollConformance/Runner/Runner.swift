import Foundation
import GPollSpec
import GPollWire
import Synchronization

/// Runs selected cases as ``Schedule`` places them: cases that publish nothing
/// concurrently, publishing ones one at a time per broadcast domain (lane), two lanes
/// at once when a second endpoint with its own publish URL is given, client-limit
/// ones alone at the end; each under the per-case timeout.
public struct ConformanceRunner: Sendable {
    public let catalog: Catalog
    public let registry: [ConformanceCase]
    public internal(set) var settings: Settings
    /// Where a publishing case goes when both lanes are equally loaded (tests use it
    /// to run a lone case on a chosen lane).
    var preferredLane: Lane = .b

    public init(catalog: Catalog, registry: [ConformanceCase], settings: Settings) {
        self.catalog = catalog
        self.registry = registry
        self.settings = settings
    }

    /// One planned case: its catalog entry, its code, and why it will be skipped (if so).
    struct Planned: Sendable {
        var entry: Catalog.Case
        var code: ConformanceCase?
        var skipReason: String?
    }

    /// The selected, non-retired server cases in catalog order (the client cases of
    /// section 19 are for a client mode, not for a server under test).
    func plan(_ selection: CaseSelection) -> [Planned] {
        catalog.activeCases(on: .server).filter { selection.selects($0.id) }.map { entry in
            let code = registry.first { $0.id == entry.id }
            // A need this build does not know (a newer Spec) can be met by no option:
            // the case is skipped with the need named, never run without it.
            let unknownNeeds = entry.needs.filter { !$0.isKnown }
            let reason = code == nil ? "no code for this case in this gpoll-conform build"
                : !unknownNeeds.isEmpty
                ? "needs \(unknownNeeds.map { "'\($0)'" }.joined(separator: ", ")), which this gpoll-conform build does not know (a newer Spec?)"
                : settings.unmetNeed(entry.needs) ?? code?.skipReason?(settings)
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

    /// How the cases that will run are placed: lanes and queue order (see ``Schedule``).
    func schedule(_ planned: [Planned]) -> Schedule {
        let jobs = planned.filter { $0.skipReason == nil }.map { item -> Schedule.Job in
            let code = item.code!
            let kind: Schedule.Kind
            switch code.effectiveScheduling(needs: item.entry.needs) {
            case .parallel: kind = .quiet
            case .serial: kind = .publishing
            case .exclusive: kind = .exclusive
            }
            return Schedule.Job(id: item.entry.id, kind: kind, bothEndpoints: item.entry.needs.contains(.secondEndpoint),
                                expected: code.expectedDuration(needs: item.entry.needs, settings: settings),
                                afterQuiet: kind == .publishing && item.entry.needs.contains(where: \.concernsClientBuffer))
        }
        return Schedule(jobs, twoLanes: settings.hasTwoLanes, parallelism: settings.parallelism,
                        preferredLane: preferredLane)
    }

    /// This runner with what the server advertises learnt (one handshake): planning,
    /// skips and unknown settings depend on it. ``run(_:client:onResult:)`` does it
    /// first when it has not been done.
    public func probed(client: WireClient) async -> ConformanceRunner {
        guard settings.probed == nil else { return self }
        var probed = self
        probed.settings = await ServerProbe.learn(settings, client: client)
        return probed
    }

    public func run(_ selection: CaseSelection, client: WireClient,
                    onResult: @escaping @Sendable (CaseResult) -> Void = { _ in }) async -> [CaseResult] {
        guard settings.probed != nil else {
            // Learn from one handshake what the server offers, before planning (skips depend on it).
            return await probed(client: client).run(selection, client: client, onResult: onResult)
        }
        let planned = plan(selection)
        let runToken = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var results: [String: CaseResult] = [:]
        var byID: [String: (Int, Planned)] = [:]

        for (index, item) in planned.enumerated() {
            if let reason = item.skipReason {
                let result = CaseResult(id: item.entry.id, title: item.entry.title, section: item.entry.section,
                                        level: item.entry.level, requirements: item.entry.requirements,
                                        outcome: .skip, reason: reason)
                results[item.entry.id] = result
                onResult(result)
                continue
            }
            byID[item.entry.id] = (index, item)
        }

        // Start every slot the schedule allows, and more as cases finish.
        let schedule = self.schedule(planned)
        let parallelism = max(1, settings.parallelism)
        await withTaskGroup(of: (Int, CaseResult).self) { group in
            var started = Set<Int>(), finished = Set<Int>()
            func launch() {
                for slot in schedule.startable(started: started, finished: finished, parallelism: parallelism) {
                    started.insert(slot)
                    let (index, item) = byID[schedule.slots[slot].job.id]!
                    let lane = schedule.slots[slot].lane
                    let prefix = "gc\(runToken)c\(index)"
                    group.addTask { (slot, await runOne(item, client: client, prefix: prefix, lane: lane)) }
                }
            }
            launch()
            while let (slot, result) = await group.next() {
                finished.insert(slot)
                results[result.id] = result
                onResult(result)
                launch()
            }
        }
        return planned.compactMap { results[$0.entry.id] }
    }

    private enum Completion: Sendable {
        case finished((any Error)?)
        case timedOut
    }

    func runOne(_ item: Planned, client: WireClient, prefix: String, lane: Lane = .a) async -> CaseResult {
        let entry = item.entry
        let transcript = Transcript()
        let context = CaseContext(settings: settings, client: client, catalog: catalog, caseID: entry.id,
                                  caseLevel: entry.level, transcript: transcript, prefix: prefix, lane: lane)
        if settings.hasTwoLanes {
            transcript.note("lane \(lane): endpoint \(context.settings.pollURL), publish URL \(context.settings.publishURL.map { "\($0)" } ?? "none")")
        }
        let start = ContinuousClock.now
        let body = item.code!.run
        let limit = settings.timeLimit(for: entry.needs)
        let completion = await Self.withDeadline(limit) { try await body(context) }
        await context.closeAll()
        let elapsed = ContinuousClock.now - start
        var result = CaseResult(id: entry.id, title: entry.title, section: entry.section, level: entry.level,
                                requirements: entry.requirements, outcome: .pass,
                                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        switch completion {
        case .finished(let error):
            result.conclude(error, strict: settings.strict)
        case .timedOut:
            result.outcome = .error
            result.reason = "timed out after \(limit)"
        }
        result.lane = lane.description
        result.endpoint = "\(context.settings.pollURL)"
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
