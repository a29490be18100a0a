import Testing
@testable import GPollCore

/// SplitMix64: a tiny seeded generator so that a failing sequence can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What the protocol promises each client, tracked outside the state machine:
/// the messages published while it was live, and those it received.
private struct ClientLedger {
    var id: ClientID
    var owed: [Int] = []
    var received: [Int] = []
    var waiting: PollToken?
    var evicted = false
}

@Suite("Broadcaster properties over random runs")
struct BroadcasterPropertyTests {
    @Test("exactly once, in order, nothing before registration, eviction exactly at B+1", arguments: Array(UInt64(1)...40))
    func randomRun(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let capacity = Int.random(in: 1...4, using: &rng)
        var state = BroadcasterState<Int>(
            configuration: BroadcasterConfiguration(
                clientBufferCapacity: capacity, routineMaxClients: 3, pollTimeout: .seconds(5), idleExpiry: .seconds(7)),
            uuidSource: SequentialUUIDSource(startingAt: seed << 20))
        var clock = TestClock()
        var ledgers: [ClientLedger] = []
        var tokenOwner: [PollToken: Int] = [:]
        var nextToken: UInt64 = 0
        var nextMessage = 0

        /// Records a delivery; now and then the write "fails" and the message goes back.
        func receive(_ message: Int, by index: Int) {
            if Int.random(in: 0..<10, using: &rng) == 0 {
                switch state.returnUndelivered(message, to: ledgers[index].id, now: clock.now) {
                case .requeued: return
                case .deliver, .clientGone: Issue.record("seed \(seed): a returned message right after its delivery must be requeued")
                }
            }
            ledgers[index].received.append(message)
        }

        for _ in 0..<600 {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<12:
                guard case .registered(let id) = state.register(now: clock.now) else { continue }
                ledgers.append(ClientLedger(id: id))
            case 12..<45:
                guard !ledgers.isEmpty else { continue }
                let index = Int.random(in: 0..<ledgers.count, using: &rng)
                nextToken += 1
                let token = PollToken(nextToken)
                switch state.poll(ledgers[index].id, token: token, now: clock.now) {
                case .deliver(let message):
                    #expect(!ledgers[index].evicted)
                    receive(message, by: index)
                case .wait(let superseded):
                    #expect(!ledgers[index].evicted)
                    #expect(superseded == ledgers[index].waiting)
                    ledgers[index].waiting = token
                    tokenOwner[token] = index
                case .notFound:
                    #expect(ledgers[index].evicted, "a live client's poll was not found")
                }
            case 45..<80:
                nextMessage += 1
                let message = nextMessage
                // Who may be evicted: live, no waiting poll, and B messages owed but not received.
                let mustEvict = Set(ledgers.indices.filter {
                    !ledgers[$0].evicted && ledgers[$0].waiting == nil
                        && ledgers[$0].owed.count - ledgers[$0].received.count >= capacity
                }.map { ledgers[$0].id })
                for index in ledgers.indices where !ledgers[index].evicted { ledgers[index].owed.append(message) }
                let result = state.publish(message, now: clock.now)
                #expect(Set(result.evicted) == mustEvict)
                for delivery in result.deliveries {
                    let owner = tokenOwner.removeValue(forKey: delivery.token)
                    let index = try #require(owner, "a delivery went to a poll that was not waiting")
                    #expect(ledgers[index].id == delivery.client)
                    ledgers[index].waiting = nil
                    receive(delivery.message, by: index)
                }
                for index in ledgers.indices where mustEvict.contains(ledgers[index].id) {
                    ledgers[index].evicted = true
                    ledgers[index].owed.removeLast()
                }
            case 80..<88:
                guard let (token, index) = tokenOwner.randomElement(using: &rng) else { continue }
                let withdrawn = state.withdraw(token, now: clock.now)
                #expect(withdrawn)
                tokenOwner[token] = nil
                ledgers[index].waiting = nil
            default:
                clock.advance(.milliseconds(Int64.random(in: 0...3_000, using: &rng)))
                let expiry = state.expire(now: clock.now)
                for token in expiry.timedOutPolls {
                    let owner = tokenOwner.removeValue(forKey: token)
                    let index = try #require(owner, "a timeout for a poll that was not waiting")
                    ledgers[index].waiting = nil
                }
                for id in expiry.expiredClients {
                    let index = try #require(ledgers.firstIndex { $0.id == id })
                    #expect(ledgers[index].waiting == nil, "seed \(seed): a client with a waiting poll expired")
                    ledgers[index].evicted = true
                }
            }
            // Superseded polls drop out of the token table as the state machine drops them.
            tokenOwner = tokenOwner.filter { ledgers[$0.value].waiting == $0.key }
        }

        // Drain every live client and compare with what it was owed.
        for index in ledgers.indices {
            if let token = ledgers[index].waiting { state.withdraw(token, now: clock.now) }
            while case .deliver(let message) = state.poll(ledgers[index].id, token: PollToken(.max), now: clock.now) {
                receive(message, by: index)
            }
            state.withdraw(PollToken(.max), now: clock.now)
            let ledger = ledgers[index]
            if ledger.evicted {
                // Evicted: what arrived is an in-order prefix of what was owed (the queue is dropped).
                #expect(Array(ledger.owed.prefix(ledger.received.count)) == ledger.received, "seed \(seed)")
            } else {
                #expect(ledger.received == ledger.owed, "seed \(seed): client \(index)")
            }
        }
    }
}
