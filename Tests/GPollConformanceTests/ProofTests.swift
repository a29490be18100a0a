import GPollTestSupport
import Foundation
@testable import GPollConformance
import GPollSpec
import NIOCore
import Testing

/// The proof that cases can fail: every case against a server built with a defect
/// that breaks what the case checks.
@Suite(.serialized) struct ProofTests {
    static func config(for id: String, defects: Set<FakeDefect>) -> FakeGPollServer.Config {
        var config = FakeGPollServer.Config(defects: defects)
        if ["limits/007", "limits/008", "transport/013"].contains(id) { config.maxClients = 40 }
        // The publish storm needs B >= 100 (its need), so no client may be evicted while it lags.
        if id == "stress/003" { config.clientBuffer = 100 }
        // The stress tier registers clients for seconds: polls must stay waiting meanwhile.
        if id.hasPrefix("stress/") {
            config.pollTimeout = .seconds(30)
            config.idleExpiry = nil
        }
        if defects.contains(.plainHTTPBeyondLoopback) { config.bindHost = "0.0.0.0" }
        return config
    }

    @Test func tableCoversEveryCase() {
        let active = Set(Harness.catalog.activeCases(on: .server).map(\.id))
        #expect(active.subtracting(DefectTable.table.keys).sorted() == [], "cases no defect can fail")
        #expect(Set(DefectTable.table.keys).subtracting(active).sorted() == [], "table rows for unknown cases")
    }

    /// The fake server without defects is a second implementation: everything passes, strictly.
    @Test func fakeServerWithoutDefectsPassesEverything() async throws {
        try await LoadGate.exclusive { try await fakeServerWithoutDefects() }
    }

    func fakeServerWithoutDefects() async throws {
        let plain = FakeGPollServer(Self.config(for: "", defects: []))
        try await plain.start()
        let limited = FakeGPollServer(Self.config(for: "limits/007", defects: []))
        try await limited.start()
        let results = try await Harness.run(["*"], excluding: ["stress/001"], against: plain, strict: true).filter { !["limits/007", "limits/008", "transport/013", "stress/001", "stress/003"].contains($0.id) }
        let limits = try await Harness.run(["limits/007", "limits/008", "transport/013"], against: limited, strict: true)
        await plain.stop()
        await limited.stop()
        let roomy = FakeGPollServer(Self.config(for: "stress/003", defects: []))
        try await roomy.start()
        let storm = try await Harness.run(["stress/003"], against: roomy, strict: true)
        await roomy.stop()
        for result in results + limits + storm {
            #expect(result.outcome == .pass, "\(Harness.describe(result))")
        }
    }

    /// Every (case, defect) pair, alternately on lane A and lane B, so that both lanes'
    /// URLs reach every kind of case: a publishing case that needs one endpoint must
    /// run on the lane asked for, and still FAIL or WARN there.
    @Test func everyCaseFailsAgainstItsDefect() async throws {
        try await LoadGate.exclusive { try await everyCaseAgainstItsDefect() }
    }

    func everyCaseAgainstItsDefect() async throws {
        // stress/001 holds 10,000 connections on each side: StressTests runs it through
        // the binary, so that tester and server do not share one process's file limit.
        let entries = Harness.catalog.activeCases(on: .server).filter { $0.id != "stress/001" }
        let jobs = entries.flatMap { entry in (DefectTable.table[entry.id] ?? []).map { (entry, $0) } }
            .enumerated().map { ($0.element.0, $0.element.1, $0.offset % 2 == 0 ? Lane.a : Lane.b) }
        try await withThrowingTaskGroup(of: (String, FakeDefect, Lane, CaseResult?).self) { group in
            var pending = jobs[...]
            var running = 0
            func add(_ entry: Catalog.Case, _ defect: FakeDefect, _ lane: Lane) {
                group.addTask {
                    let server = FakeGPollServer(Self.config(for: entry.id, defects: [defect]))
                    try await server.start()
                    let result = try await Harness.run([entry.id], against: server, lane: lane).first
                    await server.stop()
                    return (entry.id, defect, lane, result)
                }
            }
            while running < 12, let (entry, defect, lane) = pending.popFirst() { add(entry, defect, lane); running += 1 }
            for try await (id, defect, lane, result) in group {
                let entry = Harness.catalog.case(id)!
                let wanted: Outcome = entry.level == .must ? .fail : .warn
                if id == "security/003" && FakeGPollServer.externalAddress == nil {
                    // No non-loopback address on this machine: the defect cannot be staged.
                } else {
                    #expect(result?.outcome == wanted, "\(id) against \(defect) on lane \(lane): \(result.map(Harness.describe) ?? "no result")")
                }
                let laneBound = entry.needs.contains(.publish) && !entry.needs.contains(.secondEndpoint) && !entry.needs.contains(.maxClients)
                    && !entry.needs.contains(.stress)
                if laneBound, let result, result.outcome != .skip {
                    #expect(result.lane == lane.description, "\(id) ran on lane \(result.lane ?? "-"), not \(lane)")
                }
                if let (entry, defect, lane) = pending.popFirst() { add(entry, defect, lane) }
            }
        }
    }
}
