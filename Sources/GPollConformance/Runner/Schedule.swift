/// Which broadcast domain a case runs in. A publish reaches every client of one
/// endpoint and only that endpoint (HA-3), so each endpoint is a lane of its own.
enum Lane: Int, Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The poll URL and `--publish-url`.
    case a = 0
    /// `--second-endpoint` and `--second-publish-url`.
    case b = 1

    static func < (lhs: Lane, rhs: Lane) -> Bool { lhs.rawValue < rhs.rawValue }
    var description: String { self == .a ? "A" : "B" }
}

/// The order and placement of a run's cases, as pure logic (no I/O), so that it can
/// be tested apart from the runner.
///
/// Every case is a job that occupies one or two lanes, either *quietly* (it publishes
/// nothing; it may wait for "nothing delivered", a 204 or idle expiry, which a foreign
/// publish would spoil) or *publishing* (it owns the lane's broadcast). Two jobs
/// conflict when they share a lane and one of them publishes there, or when one of
/// them fills the server (client limit). The schedule is a queue; the rule is:
///
/// **a job may start once every earlier job in the queue that conflicts with it has
/// finished.**
///
/// So two conflicting jobs never overlap, whatever the jobs' real durations, and the
/// first unfinished job can always start (no deadlock). Quiet jobs never conflict with
/// each other and run together (up to `parallelism`).
///
/// Queue order: quiet jobs first (lane A; lanes A and B for the isolation cases that
/// need both endpoints), then publishing jobs that need one endpoint, spread over
/// lanes A and B by expected duration (longest first onto the lane that frees up
/// first, counting lane A's quiet phase; those that publish about B messages to an
/// idle client wait for the quiet phase on either lane), then publishing jobs that need both
/// endpoints, then the client-limit jobs, each alone. Lane B's publishers therefore
/// run while lane A's quiet jobs do, and lane A's publishers after them. Without a
/// second endpoint with its own publish URL everything is on lane A: quiet jobs
/// together, then publishers one at a time, then client-limit jobs.
struct Schedule: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// Publishes nothing: may share its lanes with other quiet jobs.
        case quiet
        /// Publishes: owns its lanes.
        case publishing
        /// Fills the server (client limit): runs alone, after everything else.
        case exclusive
    }

    /// What the scheduler is told about a case.
    struct Job: Sendable, Equatable {
        var id: String
        var kind: Kind
        /// Needs the second endpoint as well as the first (isolation cases).
        var bothEndpoints: Bool
        /// A rough expectation, for balancing lanes only; correctness never depends on it.
        var expected: Duration
        /// A publishing case that holds an idle client while it publishes about B
        /// messages: it must not run while the quiet cases load the machine, or on a
        /// short E the client could expire before the case polls it.
        var afterQuiet: Bool

        init(id: String, kind: Kind, bothEndpoints: Bool = false, expected: Duration = .milliseconds(100),
                    afterQuiet: Bool = false) {
            self.id = id
            self.kind = kind
            self.bothEndpoints = bothEndpoints
            self.expected = expected
            self.afterQuiet = afterQuiet
        }
    }

    /// A job in the queue, with its place.
    struct Slot: Sendable, Equatable {
        var job: Job
        /// The lane whose endpoint and publish URL the case gets as its own.
        var lane: Lane
        /// Every lane the job occupies (both for isolation and client-limit jobs).
        var lanes: Set<Lane>
    }

    /// The queue.
    let slots: [Slot]
    /// Whether lane B exists (a second endpoint with its own publish URL).
    let twoLanes: Bool

    /// - Parameters:
    ///   - jobs: the cases to run, in catalog order.
    ///   - twoLanes: a second endpoint with its own publish URL was given.
    ///   - parallelism: how many quiet jobs run at once (for the estimate of lane A's quiet phase).
    ///   - preferredLane: where a publishing job goes when both lanes are equally loaded
    ///     (default B, since lane A also carries the quiet phase); tests use it to put
    ///     a lone case on a chosen lane.
    init(_ jobs: [Job], twoLanes: Bool, parallelism: Int = 16, preferredLane: Lane = .b) {
        self.twoLanes = twoLanes
        let all: Set<Lane> = twoLanes ? [.a, .b] : [.a]
        func slot(_ job: Job, _ lane: Lane, both: Bool) -> Slot {
            Slot(job: job, lane: lane, lanes: both ? [.a, .b] : [lane])
        }
        let quietOne = jobs.filter { $0.kind == .quiet && !$0.bothEndpoints }
        let quietBoth = jobs.filter { $0.kind == .quiet && $0.bothEndpoints }
        let publishingOne = jobs.filter { $0.kind == .publishing && !$0.bothEndpoints }
        let publishingBoth = jobs.filter { $0.kind == .publishing && $0.bothEndpoints }
        let exclusive = jobs.filter { $0.kind == .exclusive }

        var queue: [Slot] = quietOne.map { slot($0, .a, both: false) } + quietBoth.map { slot($0, .a, both: true) }
        if twoLanes {
            // Expected time at which each lane is free for its first publisher.
            let quietEstimate = Self.together(quietOne + quietBoth, parallelism: parallelism)
            var load: [Lane: Duration] = [.a: quietEstimate, .b: Self.together(quietBoth, parallelism: parallelism)]
            func longestFirst(_ jobs: [Job]) -> [Job] {
                jobs.enumerated().sorted {
                    $0.element.expected != $1.element.expected ? $0.element.expected > $1.element.expected : $0.offset < $1.offset
                }.map(\.element)
            }
            // Those that may run beside the quiet phase first, so that lane B has no gap;
            // each onto the lane where it would finish first.
            let free = longestFirst(publishingOne.filter { !$0.afterQuiet })
            let held = longestFirst(publishingOne.filter(\.afterQuiet))
            for job in free + held {
                let other: Lane = preferredLane == .a ? .b : .a
                func finish(_ lane: Lane) -> Duration {
                    max(load[lane]!, job.afterQuiet ? quietEstimate : .zero) + job.expected
                }
                let lane = finish(other) < finish(preferredLane) ? other : preferredLane
                load[lane] = finish(lane)
                queue.append(slot(job, lane, both: false))
            }
        } else {
            queue += publishingOne.map { slot($0, .a, both: false) }
        }
        queue += publishingBoth.map { slot($0, .a, both: true) }
        queue += exclusive.map { Slot(job: $0, lane: .a, lanes: all.union($0.bothEndpoints ? [.a, .b] : [])) }
        slots = queue
    }

    /// How long jobs that run together take, roughly: the longest, or the total spread
    /// over the parallel slots, whichever is more.
    static func together(_ jobs: [Job], parallelism: Int) -> Duration {
        let longest = jobs.map(\.expected).max() ?? .zero
        let total = jobs.reduce(Duration.zero) { $0 + $1.expected }
        return max(longest, total / max(1, parallelism))
    }

    /// Whether two slots must not overlap.
    static func conflict(_ x: Slot, _ y: Slot) -> Bool {
        if x.job.kind == .exclusive || y.job.kind == .exclusive { return true }
        if (x.job.kind == .quiet && y.job.afterQuiet) || (y.job.kind == .quiet && x.job.afterQuiet) { return true }
        guard !x.lanes.isDisjoint(with: y.lanes) else { return false }
        return x.job.kind == .publishing || y.job.kind == .publishing
    }

    /// The slots that may start now, in queue order: not started, every earlier
    /// conflicting slot finished, and no more than `parallelism` quiet slots running.
    func startable(started: Set<Int>, finished: Set<Int>, parallelism: Int) -> [Int] {
        var runningQuiet = started.subtracting(finished).filter { slots[$0].job.kind == .quiet }.count
        var out: [Int] = []
        for index in slots.indices where !started.contains(index) {
            let blocked = (0..<index).contains { earlier in
                !finished.contains(earlier) && Self.conflict(slots[earlier], slots[index])
            }
            if blocked { continue }
            if slots[index].job.kind == .quiet {
                if runningQuiet >= max(1, parallelism) { continue }
                runningQuiet += 1
            }
            out.append(index)
        }
        return out
    }

    /// A dry run with the expected durations: each slot's start and end. For tests and
    /// for reasoning about the plan; the runner starts slots as real cases finish.
    func simulate(parallelism: Int, duration: (Job) -> Duration = { $0.expected }) -> [(start: Duration, end: Duration)] {
        var times = Array(repeating: (start: Duration.zero, end: Duration.zero), count: slots.count)
        var started = Set<Int>(), finished = Set<Int>()
        var now = Duration.zero
        while finished.count < slots.count {
            for index in startable(started: started, finished: finished, parallelism: parallelism) {
                started.insert(index)
                times[index] = (now, now + duration(slots[index].job))
            }
            let running = started.subtracting(finished)
            guard let next = running.map({ times[$0].end }).min() else { break }
            now = next
            for index in running where times[index].end <= now { finished.insert(index) }
        }
        return times
    }
}
