@testable import GPollConformance
import GPollSpec
import Testing

/// The scheduler as pure logic: whatever the cases and however long they really take,
/// no broadcast domain (lane) is shared by two publishing cases at once, and no case
/// that publishes nothing (it may be waiting for "nothing delivered", a 204 or idle
/// expiry) shares a lane with a publishing one.
struct ScheduleTests {
    /// SplitMix64: deterministic, so a failure can be replayed.
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func randomJobs(_ random: inout Random) -> [Schedule.Job] {
        (0..<Int.random(in: 1...40, using: &random)).map { n in
            let roll = Int.random(in: 0..<20, using: &random)
            let kind: Schedule.Kind = roll < 9 ? .quiet : roll < 19 ? .publishing : .exclusive
            return Schedule.Job(id: "case/\(n)", kind: kind, bothEndpoints: Int.random(in: 0..<8, using: &random) == 0,
                                expected: .milliseconds(Int.random(in: 1...3000, using: &random)),
                                afterQuiet: kind == .publishing && Int.random(in: 0..<3, using: &random) == 0)
        }
    }

    /// Every pair of slots that overlap in time, under the given real durations.
    static func overlaps(_ schedule: Schedule, _ times: [(start: Duration, end: Duration)]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        for i in times.indices {
            for j in times.indices where i < j {
                if times[i].start < times[j].end && times[j].start < times[i].end { out.append((i, j)) }
            }
        }
        return out
    }

    static func check(_ schedule: Schedule, _ times: [(start: Duration, end: Duration)], _ context: String) {
        #expect(times.allSatisfy { $0.end > $0.start }, "every case ran: \(context)")
        for (i, j) in overlaps(schedule, times) {
            let (x, y) = (schedule.slots[i], schedule.slots[j])
            let shared = !x.lanes.isDisjoint(with: y.lanes)
            #expect(!(x.job.kind == .quiet && y.job.afterQuiet) && !(y.job.kind == .quiet && x.job.afterQuiet),
                    "a B-message publisher ran during the quiet phase: \(x.job.id) / \(y.job.id): \(context)")
            #expect(x.job.kind != .exclusive && y.job.kind != .exclusive,
                    "a client-limit case overlapped \(x.job.id) / \(y.job.id): \(context)")
            #expect(!(shared && x.job.kind == .publishing && y.job.kind == .publishing),
                    "two publishing cases on one lane at once: \(x.job.id), \(y.job.id): \(context)")
            #expect(!(shared && (x.job.kind == .publishing) != (y.job.kind == .publishing)),
                    "a quiet case shared a lane with a publishing one: \(x.job.id), \(y.job.id): \(context)")
        }
    }

    @Test(arguments: [false, true])
    func noLaneIsSharedWithAPublisherWhateverTheDurations(twoLanes: Bool) {
        var random = Random(state: twoLanes ? 42 : 7)
        for round in 0..<300 {
            let jobs = Self.randomJobs(&random)
            let parallelism = Int.random(in: 1...16, using: &random)
            let schedule = Schedule(jobs, twoLanes: twoLanes, parallelism: parallelism,
                                    preferredLane: Bool.random(using: &random) ? .a : .b)
            #expect(schedule.slots.map(\.job.id).sorted() == jobs.map(\.id).sorted(), "every job is placed once")
            if !twoLanes { #expect(schedule.slots.allSatisfy { $0.lane == .a }) }
            // Real durations unrelated to the estimates: correctness must not depend on them.
            var real: [String: Duration] = [:]
            for job in jobs { real[job.id] = .milliseconds(Int.random(in: 1...4000, using: &random)) }
            let times = schedule.simulate(parallelism: parallelism) { real[$0.id]! }
            Self.check(schedule, times, "round \(round), twoLanes \(twoLanes)")
            // The quiet cap holds at every start.
            for index in times.indices where schedule.slots[index].job.kind == .quiet {
                let at = times[index].start
                let running = times.indices.filter {
                    schedule.slots[$0].job.kind == .quiet && times[$0].start <= at && at < times[$0].end
                }
                #expect(running.count <= parallelism, "round \(round): \(running.count) quiet cases at once")
            }
        }
    }

    @Test func withoutASecondLaneTheOldScheduleApplies() {
        let jobs = [
            Schedule.Job(id: "p/1", kind: .publishing), Schedule.Job(id: "q/1", kind: .quiet),
            Schedule.Job(id: "x/1", kind: .exclusive), Schedule.Job(id: "p/2", kind: .publishing, expected: .seconds(3)),
            Schedule.Job(id: "q/2", kind: .quiet, bothEndpoints: true),
        ]
        let schedule = Schedule(jobs, twoLanes: false)
        #expect(schedule.slots.map(\.job.id) == ["q/1", "q/2", "p/1", "p/2", "x/1"])
        let times = schedule.simulate(parallelism: 16)
        #expect(times[0].start == .zero && times[1].start == .zero, "quiet cases together")
        #expect(times[2].start >= max(times[0].end, times[1].end), "publishers after them")
        #expect(times[3].start >= times[2].end, "one publisher at a time")
        #expect(times[4].start >= times[3].end, "client-limit case last")
    }

    @Test func twoLanesRunPublishersBesideTheQuietPhase() {
        let jobs = [
            Schedule.Job(id: "q/long", kind: .quiet, expected: .seconds(2)),
            Schedule.Job(id: "p/1", kind: .publishing, expected: .seconds(2)),
            Schedule.Job(id: "p/2", kind: .publishing, expected: .seconds(1)),
            Schedule.Job(id: "p/3", kind: .publishing, expected: .seconds(1)),
            Schedule.Job(id: "iso", kind: .publishing, bothEndpoints: true),
        ]
        let schedule = Schedule(jobs, twoLanes: true)
        let lane = Dictionary(uniqueKeysWithValues: schedule.slots.map { ($0.job.id, $0.lane) })
        // Lane A is busy with the quiet phase for 2 s: the longest publisher goes to B,
        // the next to B on a tie (preferred), the last to A.
        #expect(lane["p/1"] == .b)
        #expect(lane["p/2"] == .b)
        #expect(lane["p/3"] == .a)
        #expect(schedule.slots.first { $0.job.id == "iso" }?.lanes == [.a, .b])
        let times = schedule.simulate(parallelism: 16)
        let at = Dictionary(uniqueKeysWithValues: zip(schedule.slots.map(\.job.id), times))
        #expect(at["p/1"]!.start == .zero, "lane B starts with the quiet phase")
        #expect(at["p/3"]!.start >= at["q/long"]!.end, "lane A's publishers wait for it")
        #expect(at["p/2"]!.start >= at["p/1"]!.end, "one publisher at a time on lane B")
        #expect(at["iso"]!.start >= times.filter { $0 != at["iso"]! }.map(\.end).max()!, "isolation case alone")
        Self.check(schedule, times, "fixed")
    }

    /// The real registry with the reference run's settings: lanes are used, the
    /// isolation and client-limit cases are placed as the rules say, and the plan's
    /// own estimate is well under the 15 s the issue allows.
    @Test func theCatalogWithTwoEndpoints() throws {
        var options = RunOptions(pollURL: "http://127.0.0.1:1/poll")
        options.publishURL = "http://127.0.0.1:2/publish/poll"
        options.secondEndpoint = "http://127.0.0.1:1/poll2"
        options.secondPublishURL = "http://127.0.0.1:2/publish/poll2"
        options.pollTimeout = 2
        options.idleExpiry = 1
        options.maxClients = 200
        options.settleMs = 50
        let runner = ConformanceRunner(catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.all, settings: try options.settings())
        let schedule = runner.schedule(runner.plan(CaseSelection()))
        let slot = { (id: String) in schedule.slots.first { $0.job.id == id }! }
        #expect(slot("harness/003").lanes == [.a, .b])
        #expect(slot("notfound/009").lanes == [.a, .b] && slot("notfound/009").job.kind == .quiet)
        #expect(slot("timeout/001").lane == .a && slot("timeout/001").job.kind == .quiet)
        #expect(schedule.slots.suffix(2).map(\.job.id) == ["limits/007", "limits/008"])
        #expect(slot("buffer/001").job.afterQuiet && !slot("limits/002").job.afterQuiet)
        let publishers = schedule.slots.filter { $0.job.kind == .publishing && $0.lanes.count == 1 }
        #expect(publishers.contains { $0.lane == .a } && publishers.contains { $0.lane == .b })
        let times = schedule.simulate(parallelism: 16)
        Self.check(schedule, times, "catalog")
        let end = times.map(\.end).max()!
        #expect(end < .seconds(10), "planned \(end)")
    }

    /// A need this build does not know cannot be met: the case is skipped, with the
    /// need named, never run without it nor dropped.
    @Test func anUnknownNeedSkipsTheCase() throws {
        var catalog = EmbeddedCatalog.catalog
        let index = catalog.cases.firstIndex { $0.id == "handshake/001" }!
        catalog.cases[index].needs.append(.unknown("quantum-entanglement"))
        #expect(catalog.case("handshake/001")?.needs.contains { !$0.isKnown } == true)
        let runner = ConformanceRunner(catalog: catalog, registry: CaseRegistry.all,
                                       settings: try RunOptions(pollURL: "http://127.0.0.1:1/poll").settings())
        let planned = runner.plan(CaseSelection(include: [try Glob("handshake/00[12]")]))
        #expect(planned.count == 2)
        #expect(planned[0].skipReason?.contains("quantum-entanglement") == true, "\(planned[0].skipReason ?? "not skipped")")
        #expect(planned[1].skipReason == nil)
    }
}
