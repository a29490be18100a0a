import Testing
@testable import GPollCore

/// What a cluster node needs of the state machine: one routine id for every
/// client (the node's prefix), and evicting everyone when it lost messages.
@Suite("Broadcaster state as a cluster node")
struct ClusterNodeStateTests {
    func makeNode(prefix: UInt32, routineMax: Int = 2) -> State {
        State(configuration: BroadcasterConfiguration(clientBufferCapacity: 3, routineMaxClients: routineMax, nodeRoutine: prefix),
              uuidSource: SequentialUUIDSource())
    }

    @Test("with nodeRoutine every id carries the node's prefix, past routineMaxClients too")
    func everyIDHasThePrefix() {
        var state = makeNode(prefix: 7)
        let clock = TestClock()
        let ids = (0..<5).map { _ in state.registerOrFail(clock) }
        #expect(ids.allSatisfy { $0.routine == 7 })
        #expect(Set(ids).count == 5)
        // Another node's canonical prefix with a live uuid is not this client (NF-3).
        let foreign = ClientID(routine: 8, uuid: ids[0].uuid)
        #expect(!state.isLive(foreign))
        #expect(state.isLive(ids[0]))
    }

    @Test("a node prefix of more than nine digits is a configuration problem")
    func prefixRange() {
        #expect(BroadcasterConfiguration(nodeRoutine: 999_999_999).problems.isEmpty)
        #expect(!BroadcasterConfiguration(nodeRoutine: 1_000_000_000).problems.isEmpty)
    }

    @Test("evictAll releases every waiting poll and ends every client: their polls are then 404 'evicted'")
    func evictAll() {
        var state = makeNode(prefix: 1)
        let clock = TestClock()
        let waiting = state.registerOrFail(clock)
        let idle = state.registerOrFail(clock)
        guard case .wait = state.poll(waiting, token: PollToken(1), now: clock.now) else {
            Issue.record("the poll did not wait")
            return
        }
        _ = state.publish("queued", now: clock.now)  // delivered to the waiting poll, queued for the idle one
        guard case .wait = state.poll(waiting, token: PollToken(2), now: clock.now) else {
            Issue.record("the second poll did not wait")
            return
        }
        let (released, evicted) = state.evictAll(now: clock.now)
        #expect(released == [PollToken(2)])
        #expect(Set(evicted) == [waiting, idle])
        #expect(state.clientCount == 0 && state.waitingPollCount == 0)
        for id in [waiting, idle] {
            guard case .notFound(let reason) = state.poll(id, token: PollToken(3), now: clock.now) else {
                Issue.record("\(id) was still pollable")
                continue
            }
            #expect(reason == .bufferOverflow)
        }
        // The node goes on: a new client registers and gets what comes next.
        let fresh = state.registerOrFail(clock)
        _ = state.publish("next", now: clock.now)
        #expect(state.take(fresh, clock) == "next")
    }
}
