import Testing
@testable import GPollCore

/// A clock the tests step by hand.
struct TestClock {
    var now = GPollInstant(nanoseconds: 1_000_000_000)
    mutating func advance(_ duration: Duration) { now = now + duration }
}

typealias State = BroadcasterState<String>

func makeState(
    buffer: Int = 3, routineMax: Int = 1000, timeout: Duration? = nil, idle: Duration? = nil, maxClients: Int? = nil
) -> State {
    State(
        configuration: BroadcasterConfiguration(
            clientBufferCapacity: buffer, routineMaxClients: routineMax,
            pollTimeout: timeout, idleExpiry: idle, maxClients: maxClients),
        uuidSource: SequentialUUIDSource())
}

extension State {
    mutating func registerOrFail(_ clock: TestClock) -> ClientID {
        guard case .registered(let id) = register(now: clock.now) else {
            Issue.record("registration refused")
            return ClientID(routine: 0, uuid: UUIDv4(randomHigh: 0, randomLow: 0))
        }
        return id
    }

    /// Polls and expects an immediate message.
    mutating func take(_ id: ClientID, token: UInt64 = 999, _ clock: TestClock) -> String? {
        if case .deliver(let message, _) = poll(id, token: PollToken(token), now: clock.now) { return message }
        return nil
    }
}

@Suite("Broadcaster state machine")
struct BroadcasterStateTests {
    @Test("a registered id is canonical and pollable at once; unknown ids are not found")
    func registration() throws {
        var state = makeState()
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        #expect(try ClientID.parse(id.description).get() == id)
        #expect(state.isLive(id))
        guard case .wait(superseded: nil) = state.poll(id, token: PollToken(1), now: clock.now) else {
            Issue.record("a fresh client's poll must wait")
            return
        }
        let stranger = ClientID(routine: 0, uuid: UUIDv4(randomHigh: 77, randomLow: 77))
        guard case .notFound = state.poll(stranger, token: PollToken(2), now: clock.now) else {
            Issue.record("unknown uuid must be not found")
            return
        }
        let otherRoutine = ClientID(routine: id.routine + 1, uuid: id.uuid)
        guard case .notFound = state.poll(otherRoutine, token: PollToken(3), now: clock.now) else {
            Issue.record("another routine's prefix must be not found")
            return
        }
        #expect(state.waitingPollCount == 1)
    }

    @Test("routines fill to their limit, then the lowest free id opens")
    func routines() {
        var state = makeState(buffer: 1, routineMax: 2)
        let clock = TestClock()
        let ids = (0..<5).map { _ in state.registerOrFail(clock) }
        #expect(ids.map(\.routine) == [0, 0, 1, 1, 2])
        // Evict routine 0's clients: they hold one message each (B = 1); the rest poll.
        for id in ids[2...] { _ = state.poll(id, token: PollToken(UInt64(id.routine) * 10 + UInt64(id.uuid.low)), now: clock.now) }
        _ = state.publish("a", now: clock.now)  // routine 0 queues "a", the others take it
        _ = state.publish("b", now: clock.now)  // routine 0 overflows; others queue "b"
        #expect(!state.isLive(ids[0]) && !state.isLive(ids[1]))
        // Routine 2 still has room, so it is filled first; then routine 0, the lowest free id, reopens.
        #expect(state.registerOrFail(clock).routine == 2)
        #expect(state.registerOrFail(clock).routine == 0)
    }

    @Test("FIFO: B queued messages all arrive in order; the client stays live")
    func fifoAtCapacity() {
        var state = makeState(buffer: 4)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        for n in 1...4 { let r = state.publish("m\(n)", now: clock.now); #expect(r.evicted.isEmpty && r.queued == 1) }
        #expect(state.queuedMessageCount(of: id) == 4)
        #expect((0..<4).map { _ in state.take(id, clock) } == ["m1", "m2", "m3", "m4"])
        #expect(state.isLive(id))
    }

    @Test("eviction is exactly at the (B+1)-th undelivered message, and a 404 follows for ever")
    func evictionBoundary() {
        for capacity in [1, 2, 5, 100] {
            var state = makeState(buffer: capacity)
            let clock = TestClock()
            let id = state.registerOrFail(clock)
            for n in 0..<capacity { #expect(state.publish("\(n)", now: clock.now).evicted.isEmpty) }
            let overflow = state.publish("over", now: clock.now)
            #expect(overflow.evicted == [id])
            #expect(!state.isLive(id))
            guard case .notFound = state.poll(id, token: PollToken(1), now: clock.now) else {
                Issue.record("an evicted client must be not found (B = \(capacity))")
                continue
            }
            #expect(state.statistics.overflowEvictions == 1)
        }
    }

    @Test("a waiting poll takes a message directly, so it never counts against B")
    func waitingPollTakesDirectly() {
        var state = makeState(buffer: 2)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.poll(id, token: PollToken(7), now: clock.now)
        let first = state.publish("direct", now: clock.now)
        #expect(first.deliveries.map(\.token) == [PollToken(7)])
        #expect(first.deliveries.map(\.message) == ["direct"])
        #expect(first.queued == 0)
        #expect(state.publish("q1", now: clock.now).evicted.isEmpty)
        #expect(state.publish("q2", now: clock.now).evicted.isEmpty)
        #expect(state.publish("q3", now: clock.now).evicted == [id])
    }

    @Test("nothing published before registration is delivered")
    func nothingBeforeRegistration() {
        var state = makeState(buffer: 5)
        let clock = TestClock()
        let early = state.registerOrFail(clock)
        _ = state.publish("before", now: clock.now)
        let late = state.registerOrFail(clock)
        _ = state.publish("after", now: clock.now)
        #expect(state.take(early, clock) == "before")
        #expect(state.take(late, clock) == "after")
        #expect(state.take(late, clock) == nil)
    }

    @Test("newest poll wins: the older poll is released and gets nothing")
    func newestPollWins() {
        var state = makeState()
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        guard case .wait(superseded: nil) = state.poll(id, token: PollToken(1), now: clock.now),
              case .wait(superseded: PollToken(1)?) = state.poll(id, token: PollToken(2), now: clock.now)
        else {
            Issue.record("the second poll must supersede the first")
            return
        }
        #expect(state.waitingPollCount == 1)
        let withdrawnOld = state.withdraw(PollToken(1), now: clock.now)
        #expect(!withdrawnOld)
        let result = state.publish("x", now: clock.now)
        #expect(result.deliveries.map(\.token) == [PollToken(2)])
    }

    @Test("a timed-out poll ends with nothing consumed; the message waits for the next poll")
    func pollTimeout() {
        var state = makeState(timeout: .seconds(30))
        var clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.poll(id, token: PollToken(1), now: clock.now)
        #expect(state.nextDeadline == clock.now + .seconds(30))
        clock.advance(.milliseconds(29_999))
        #expect(state.expire(now: clock.now).timedOutPolls.isEmpty)
        clock.advance(.milliseconds(1))
        #expect(state.expire(now: clock.now).timedOutPolls == [PollToken(1)])
        #expect(state.waitingPollCount == 0)
        let result = state.publish("kept", now: clock.now)
        #expect(result.deliveries.isEmpty && result.queued == 1)
        #expect(state.take(id, clock) == "kept")
    }

    @Test("a poll withdrawn on disconnect takes nothing: the next poll gets the first message")
    func noLossOnDisconnect() {
        var state = makeState()
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.poll(id, token: PollToken(1), now: clock.now)
        let withdrawn = state.withdraw(PollToken(1), now: clock.now)
        #expect(withdrawn)
        #expect(state.publish("x", now: clock.now).deliveries.isEmpty)
        _ = state.publish("y", now: clock.now)
        #expect(state.take(id, clock) == "x")
        #expect(state.take(id, clock) == "y")
    }

    @Test("a message whose write failed goes back to the front, or to a poll that waits by now")
    func returnUndelivered() {
        var state = makeState(buffer: 2)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.poll(id, token: PollToken(1), now: clock.now)
        let delivery = state.publish("first", now: clock.now).deliveries[0]
        _ = state.publish("second", now: clock.now)
        guard case .requeued = state.returnUndelivered(delivery.message, sequence: delivery.sequence, to: id, now: clock.now) else {
            Issue.record("expected the message back in the queue")
            return
        }
        #expect(state.take(id, clock) == "first")
        #expect(state.take(id, clock) == "second")

        _ = state.poll(id, token: PollToken(2), now: clock.now)
        guard case .deliver(let redelivery) = state.returnUndelivered("again", sequence: 1, to: id, now: clock.now) else {
            Issue.record("expected a direct delivery to the waiting poll")
            return
        }
        #expect(redelivery.token == PollToken(2) && redelivery.message == "again")

        _ = state.publish("a", now: clock.now)
        _ = state.publish("b", now: clock.now)
        _ = state.publish("c", now: clock.now)  // evicts
        guard case .clientGone = state.returnUndelivered("late", sequence: 3, to: id, now: clock.now) else {
            Issue.record("an evicted client takes nothing back")
            return
        }
    }

    @Test("a handed-back message can make B+1 queued; the next publish evicts")
    func returnedMessageCountsAgainstB() {
        var state = makeState(buffer: 2)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.publish("a", now: clock.now)
        _ = state.publish("b", now: clock.now)
        let taken = state.take(id, clock)
        #expect(taken == "a")
        #expect(state.publish("c", now: clock.now).evicted.isEmpty)
        guard case .requeued = state.returnUndelivered("a", sequence: 1, to: id, now: clock.now) else {
            Issue.record("expected the message back in the queue")
            return
        }
        #expect(state.queuedMessageCount(of: id) == 3)
        #expect(state.publish("d", now: clock.now).evicted == [id])
    }

    @Test("idle expiry: not before E, at E; a waiting poll holds the client; the clock restarts when a poll ends")
    func idleExpiry() {
        var state = makeState(timeout: .seconds(30), idle: .seconds(10))
        var clock = TestClock()
        let idle = state.registerOrFail(clock)
        let polling = state.registerOrFail(clock)
        _ = state.poll(polling, token: PollToken(1), now: clock.now)
        clock.advance(.milliseconds(9_999))
        #expect(state.expire(now: clock.now).expiredClients.isEmpty)
        clock.advance(.milliseconds(1))
        #expect(state.expire(now: clock.now).expiredClients == [idle])
        #expect(state.isLive(polling))
        // The poll ends with a message at t = 10 s; the client may idle until t = 20 s.
        _ = state.publish("m", now: clock.now)
        clock.advance(.milliseconds(9_999))
        #expect(state.expire(now: clock.now).expiredClients.isEmpty)
        clock.advance(.milliseconds(1))
        #expect(state.expire(now: clock.now).expiredClients == [polling])
        #expect(state.statistics.idleEvictions == 2)
    }

    @Test("the client limit refuses handshakes and frees up after an eviction")
    func clientLimit() {
        var state = makeState(buffer: 1, maxClients: 2)
        let clock = TestClock()
        let a = state.registerOrFail(clock)
        _ = state.registerOrFail(clock)
        #expect(state.register(now: clock.now) == .refused(.clientLimitReached(2)))
        #expect(state.clientCount == 2)
        _ = state.poll(a, token: PollToken(1), now: clock.now)
        _ = state.publish("1", now: clock.now)
        _ = state.publish("2", now: clock.now)  // the non-polling client overflows
        #expect(state.clientCount == 1)
        guard case .registered = state.register(now: clock.now) else {
            Issue.record("a slot freed by eviction must be usable")
            return
        }
    }

    @Test("beginning a shutdown answers every waiting poll once, and no later poll waits")
    func releaseAll() {
        var state = makeState()
        let clock = TestClock()
        let ids = (0..<5).map { _ in state.registerOrFail(clock) }
        for (n, id) in ids.enumerated() { _ = state.poll(id, token: PollToken(UInt64(n)), now: clock.now) }
        #expect(!state.isShuttingDown)
        #expect(Set(state.beginShutdown(now: clock.now)) == Set((0..<5).map { PollToken(UInt64($0)) }))
        #expect(state.isShuttingDown)
        #expect(state.waitingPollCount == 0)
        #expect(state.beginShutdown(now: clock.now).isEmpty, "a second call released polls again")
        // Publishing goes on: every client queues the message, and a poll still takes it...
        #expect(state.publish("x", now: clock.now).deliveries.isEmpty)
        guard case .deliver("x", sequence: 1) = state.poll(ids[0], token: PollToken(10), now: clock.now) else {
            Issue.record("a queued message was not delivered while shutting down"); return
        }
        // ...but with nothing queued the poll ends at once instead of waiting.
        guard case .endNow = state.poll(ids[0], token: PollToken(11), now: clock.now) else {
            Issue.record("a poll waits during shutdown"); return
        }
        #expect(state.waitingPollCount == 0)
        #expect(state.queuedMessageCount(of: ids[1]) == 1)
    }

    @Test("a repeating uuid source never yields two live clients with one uuid")
    func uniqueness() {
        struct Repeating: UUIDSource {
            var calls = 0
            mutating func nextUUID() -> UUIDv4 {
                calls += 1
                return UUIDv4(randomHigh: UInt64(calls / 3), randomLow: 0)  // each value three times
            }
        }
        var state = BroadcasterState<String>(configuration: .init(), uuidSource: Repeating())
        let ids = (0..<20).map { _ in state.registerOrFail(TestClock()) }
        #expect(Set(ids.map(\.uuid)).count == 20)
    }

    @Test("deadline queues stay proportional to live polls and clients under many short polls")
    func deadlineQueuesStayBounded() {
        var state = makeState(buffer: 1, timeout: .seconds(30), idle: .seconds(60))
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        for n in 0..<50_000 {
            _ = state.poll(id, token: PollToken(UInt64(n)), now: clock.now)
            _ = state.publish("m", now: clock.now)
        }
        #expect(state.pollDeadlines.count <= 2 * state.waitingPollCount + 1025)
        #expect(state.idleDeadlines.count <= 2 * state.clientCount + 1025)
    }

    @Test("settings that cannot run are named")
    func configurationProblems() {
        #expect(BroadcasterConfiguration().problems.isEmpty)
        let bad = BroadcasterConfiguration(
            clientBufferCapacity: 0, routineMaxClients: 0, pollTimeout: .zero, idleExpiry: .seconds(-1), maxClients: 0)
        #expect(bad.problems.count == 5)
    }
}
