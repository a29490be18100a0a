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
    /// Polls with `ack=n` (acknowledged delivery) rather than as a gpoll/1 client.
    var usesAck: Bool
    var owed: [Int] = []
    /// What the client's application accepted: for an ack client, each message
    /// once, as the answer with the next sequence number arrived.
    var received: [Int] = []
    /// The highest `ack` the client has sent: the server holds `owed.count - acknowledged`.
    var acknowledged: UInt64 = 0
    var waiting: PollToken?
    var evicted = false

    /// How many messages the server holds for it, which B bounds.
    var held: Int { usesAck ? owed.count - Int(acknowledged) : owed.count - received.count }
    /// An ack client acknowledges everything it received.
    var nextAck: UInt64? { usesAck ? UInt64(received.count) : nil }
}

@Suite("Broadcaster properties over random runs")
struct BroadcasterPropertyTests {
    @Test(
        "exactly once, in order, nothing before registration, eviction exactly at B+1 (unacknowledged held counted); lost answers re-sent",
        arguments: Array(UInt64(1)...40))
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

        /// Records an answer. Now and then the write "fails" (the message goes back),
        /// and an ack client's answer is now and then lost on the way (a retried GET):
        /// both must reach the client again, with the same sequence number.
        func receive(_ message: Int, sequence: UInt64, by index: Int) {
            let ledger = ledgers[index]
            let position = ledger.owed.firstIndex(of: message)
            #expect(position.map { UInt64($0 + 1) } == sequence, "seed \(seed): message \(message) has the wrong sequence \(sequence)")
            if Int.random(in: 0..<10, using: &rng) == 0 {
                switch state.returnUndelivered(message, sequence: sequence, to: ledger.id, now: clock.now) {
                case .requeued: return
                case .deliver, .clientGone: Issue.record("seed \(seed): a returned message right after its delivery must be requeued")
                }
            }
            if ledger.usesAck {
                if Int.random(in: 0..<5, using: &rng) == 0 { return }  // the answer is lost
                // Exactly once: the answer after what the client has, never one it has, never a gap.
                #expect(sequence == UInt64(ledger.received.count + 1), "seed \(seed): ack client \(index) got sequence \(sequence) after \(ledger.received.count)")
                guard sequence == UInt64(ledger.received.count + 1) else { return }
            }
            ledgers[index].received.append(message)
        }

        func poll(_ index: Int, token: PollToken) -> PollResult<Int> {
            let ack = ledgers[index].nextAck
            let result = state.poll(ledgers[index].id, acknowledging: ack, token: token, now: clock.now)
            switch (ack, result) {
            case (let ack?, .deliver), (let ack?, .wait):
                ledgers[index].acknowledged = Swift.max(ledgers[index].acknowledged, ack)
            default:
                break
            }
            return result
        }

        for _ in 0..<600 {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<12:
                guard case .registered(let id) = state.register(now: clock.now) else { continue }
                ledgers.append(ClientLedger(id: id, usesAck: Bool.random(using: &rng)))
            case 12..<45:
                guard !ledgers.isEmpty else { continue }
                let index = Int.random(in: 0..<ledgers.count, using: &rng)
                nextToken += 1
                let token = PollToken(nextToken)
                if ledgers[index].usesAck, !ledgers[index].evicted, Int.random(in: 0..<20, using: &rng) == 0 {
                    // An ack above anything handed out is refused and changes nothing.
                    let tooHigh = UInt64(ledgers[index].owed.count + 1)
                    guard case .acknowledgementTooHigh = state.poll(ledgers[index].id, acknowledging: tooHigh, token: token, now: clock.now) else {
                        Issue.record("seed \(seed): ack=\(tooHigh) was not refused")
                        continue
                    }
                    continue
                }
                switch poll(index, token: token) {
                case .deliver(let message, let sequence):
                    #expect(!ledgers[index].evicted)
                    #expect(ledgers[index].waiting == nil, "seed \(seed): a client with a waiting poll had a message queued")
                    receive(message, sequence: sequence, by: index)
                case .wait(let superseded):
                    #expect(!ledgers[index].evicted)
                    #expect(superseded == ledgers[index].waiting)
                    ledgers[index].waiting = token
                    tokenOwner[token] = index
                case .notFound(let ended):
                    #expect(ledgers[index].evicted, "a live client's poll was not found")
                    #expect(ended != nil, "seed \(seed): an ended client's id is remembered")
                case .acknowledgementTooHigh(let highest):
                    Issue.record("seed \(seed): client \(index) acknowledged what it received, refused above \(highest)")
                case .endNow:
                    Issue.record("seed \(seed): a poll ended for a shutdown that never began")
                }
            case 45..<80:
                nextMessage += 1
                let message = nextMessage
                // Who may be evicted: live, no waiting poll, and holding B messages.
                let mustEvict = Set(ledgers.indices.filter {
                    !ledgers[$0].evicted && ledgers[$0].waiting == nil && ledgers[$0].held >= capacity
                }.map { ledgers[$0].id })
                for index in ledgers.indices where !ledgers[index].evicted { ledgers[index].owed.append(message) }
                let result = state.publish(message, now: clock.now)
                #expect(Set(result.evicted) == mustEvict, "seed \(seed)")
                for delivery in result.deliveries {
                    let owner = tokenOwner.removeValue(forKey: delivery.token)
                    let index = try #require(owner, "a delivery went to a poll that was not waiting")
                    #expect(ledgers[index].id == delivery.client)
                    ledgers[index].waiting = nil
                    receive(delivery.message, sequence: delivery.sequence, by: index)
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
            var polls = 0
            while case .deliver(let message, let sequence) = poll(index, token: PollToken(.max)), polls < 10 * (capacity + 2) {
                receive(message, sequence: sequence, by: index)
                polls += 1
            }
            state.withdraw(PollToken(.max), now: clock.now)
            let ledger = ledgers[index]
            if ledger.evicted {
                // Evicted: what arrived is an in-order prefix of what was owed (the queue is dropped).
                #expect(Array(ledger.owed.prefix(ledger.received.count)) == ledger.received, "seed \(seed)")
            } else {
                #expect(ledger.received == ledger.owed, "seed \(seed): client \(index) (ack: \(ledger.usesAck))")
                #expect(state.queuedMessageCount(of: ledger.id) == 0, "seed \(seed): client \(index) still holds messages")
            }
        }
    }
}
