import Foundation
import Testing
@testable import GPollCore

extension State {
    /// Polls with `ack=n` and expects an immediate message with its sequence number.
    mutating func take(_ id: ClientID, ack: UInt64?, token: UInt64 = 999, _ clock: TestClock) -> (String, UInt64)? {
        if case .deliver(let message, let sequence) = poll(id, acknowledging: ack, token: PollToken(token), now: clock.now) {
            return (message, sequence)
        }
        return nil
    }
}

@Suite("Acknowledged delivery (ack), reasons and advertised settings")
struct AcknowledgedDeliveryTests {
    @Test("sequence numbers start at 1 per client and count its messages (AK-1)")
    func sequenceNumbers() {
        var state = makeState(buffer: 5)
        let clock = TestClock()
        _ = state.publish("before", now: clock.now)
        let early = state.registerOrFail(clock)
        _ = state.publish("a", now: clock.now)
        let late = state.registerOrFail(clock)
        _ = state.publish("b", now: clock.now)
        #expect(state.take(early, ack: 0, clock)! == ("a", 1))
        #expect(state.take(early, ack: 1, clock)! == ("b", 2))
        #expect(state.take(late, ack: nil, clock)! == ("b", 1))
        // A waiting poll's delivery carries the sequence too.
        _ = state.poll(late, acknowledging: 1, token: PollToken(5), now: clock.now)
        let delivery = state.publish("c", now: clock.now).deliveries
        #expect(delivery.map(\.sequence) == [2])
    }

    @Test("a repeated ack gets the same message and sequence again; after ack=n nothing <= n comes back (AK-2, AK-3)")
    func lostAnswerIsResent() {
        var state = makeState(buffer: 5)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        for m in ["a", "b", "c"] { _ = state.publish(m, now: clock.now) }
        #expect(state.take(id, ack: 0, clock)! == ("a", 1))
        #expect(state.take(id, ack: 0, clock)! == ("a", 1))  // the first answer was lost
        #expect(state.take(id, ack: 1, clock)! == ("b", 2))
        #expect(state.take(id, ack: 1, clock)! == ("b", 2))
        #expect(state.take(id, ack: 2, clock)! == ("c", 3))
        #expect(state.take(id, ack: 1, clock)! == ("c", 3))  // a late, older ack moves nothing back
        guard case .wait = state.poll(id, acknowledging: 3, token: PollToken(1), now: clock.now) else {
            Issue.record("everything acknowledged: the poll waits")
            return
        }
        #expect(state.queuedMessageCount(of: id) == 0)
    }

    @Test("unacknowledged messages count against B; acknowledging keeps the client (AK-4)", arguments: [1, 2, 3])
    func unacknowledgedCountAgainstB(buffer: Int) {
        var state = makeState(buffer: buffer)
        let clock = TestClock()
        let held = state.registerOrFail(clock)
        let partial = state.registerOrFail(clock)
        let acking = state.registerOrFail(clock)
        for n in 1...buffer {
            _ = state.publish("m\(n)", now: clock.now)
            // `held` never acknowledges (every answer lost): it holds n, all handed out.
            #expect(state.take(held, ack: 0, clock)?.1 == 1)
            #expect(state.take(acking, ack: UInt64(n - 1), clock)?.1 == UInt64(n))
        }
        // `partial` acknowledges its first message and holds the other B-1, with no waiting poll.
        #expect(state.take(partial, ack: 0, clock)?.1 == 1)
        if case .wait = state.poll(partial, acknowledging: 1, token: PollToken(6), now: clock.now) {
            state.withdraw(PollToken(6), now: clock.now)
        }
        // `acking` acknowledges everything; its poll waits and then its connection closes.
        _ = state.poll(acking, acknowledging: UInt64(buffer), token: PollToken(7), now: clock.now)
        state.withdraw(PollToken(7), now: clock.now)
        #expect(state.queuedMessageCount(of: held) == buffer)
        #expect(state.queuedMessageCount(of: partial) == buffer - 1)
        #expect(state.queuedMessageCount(of: acking) == 0)
        let result = state.publish("over", now: clock.now)
        #expect(result.evicted == [held])
        #expect(state.isLive(acking) && state.isLive(partial))
        guard case .notFound(ended: .bufferOverflow) = state.poll(held, acknowledging: 0, token: PollToken(8), now: clock.now) else {
            Issue.record("the evicted client's poll is 404 with the reason")
            return
        }
    }

    @Test("a poll without ack acknowledges everything handed out: gpoll/1 behaviour (AK-5)")
    func pollWithoutAckAcknowledges() {
        var state = makeState(buffer: 3)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        for m in ["a", "b", "c"] { _ = state.publish(m, now: clock.now) }
        #expect(state.take(id, ack: 0, clock)! == ("a", 1))
        #expect(state.take(id, ack: nil, clock)! == ("b", 2))  // acknowledges a, and b as it hands it out
        #expect(state.queuedMessageCount(of: id) == 1)
        #expect(state.take(id, ack: 2, clock)! == ("c", 3))
        #expect(state.take(id, ack: nil, clock) == nil)
    }

    @Test("an ack above the highest sequence handed out is refused and changes nothing (AK-6)")
    func ackTooHigh() {
        var state = makeState(buffer: 3)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.publish("a", now: clock.now)
        guard case .acknowledgementTooHigh(highestHandedOut: 0) = state.poll(id, acknowledging: 1, token: PollToken(1), now: clock.now) else {
            Issue.record("ack=1 before anything was handed out must be refused")
            return
        }
        #expect(state.take(id, ack: 0, clock)! == ("a", 1))
        guard case .acknowledgementTooHigh(highestHandedOut: 1) = state.poll(id, acknowledging: .max, token: PollToken(2), now: clock.now) else {
            Issue.record("ack=UInt64.max must be refused")
            return
        }
        #expect(state.take(id, ack: 0, clock)! == ("a", 1))
    }

    @Test("without the extension, ack is ignored (PA-1)")
    func ackIgnoredWhenNotOffered() {
        var state = State(configuration: BroadcasterConfiguration(clientBufferCapacity: 3, offersAcknowledgedDelivery: false),
                          uuidSource: SequentialUUIDSource())
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.publish("a", now: clock.now)
        _ = state.publish("b", now: clock.now)
        #expect(state.take(id, ack: 0, clock)?.0 == "a")
        #expect(state.take(id, ack: 0, clock)?.0 == "b")
        #expect(state.take(id, ack: 99, clock) == nil)
    }

    @Test("a failed write of an unacknowledged message needs nothing: the next ack poll re-sends it")
    func failedWriteInAckMode() {
        var state = makeState(buffer: 3)
        let clock = TestClock()
        let id = state.registerOrFail(clock)
        _ = state.poll(id, acknowledging: 0, token: PollToken(1), now: clock.now)
        let delivery = state.publish("a", now: clock.now).deliveries[0]
        guard case .requeued = state.returnUndelivered(delivery.message, sequence: delivery.sequence, to: id, now: clock.now) else {
            Issue.record("expected the message kept")
            return
        }
        #expect(state.take(id, ack: 0, clock)! == ("a", 1))
    }

    @Test("404 reasons: exactly an evicted or expired id says so; anything else, a wrong prefix included, is unknown (NF-10)")
    func notFoundReasons() {
        var state = makeState(buffer: 1, timeout: .seconds(30), idle: .seconds(10))
        var clock = TestClock()
        let overflowing = state.registerOrFail(clock)
        _ = state.poll(overflowing, token: PollToken(1), now: clock.now)
        state.withdraw(PollToken(1), now: clock.now)
        clock.advance(.seconds(5))
        let idle = state.registerOrFail(clock)
        _ = state.publish("1", now: clock.now)
        _ = state.take(idle, clock)
        _ = state.publish("2", now: clock.now)  // overflowing holds 2 > B... evicted on the next
        _ = state.take(idle, clock)
        _ = state.publish("3", now: clock.now)
        #expect(!state.isLive(overflowing))
        clock.advance(.seconds(11))
        #expect(state.expire(now: clock.now).expiredClients == [idle])

        func reason(_ id: ClientID) -> EvictionReason?? {
            if case .notFound(let ended) = state.poll(id, token: PollToken(9), now: clock.now) { return .some(ended) }
            return nil
        }
        #expect(reason(overflowing) == .some(.bufferOverflow))
        #expect(reason(idle) == .some(.idleExpiry))
        #expect(reason(ClientID(routine: idle.routine + 1, uuid: idle.uuid)) == .some(nil))
        #expect(reason(ClientID(routine: 0, uuid: UUIDv4(randomHigh: 1, randomLow: 2))) == .some(nil))
        #expect(EvictionReason.bufferOverflow.wireReason == .evicted && EvictionReason.idleExpiry.wireReason == .expired)
    }

    @Test("the memory of ended ids is bounded: the oldest are forgotten")
    func endedMemoryIsBounded() {
        var memory = RecentlyEndedClients(capacity: 3)
        let ids = (0..<5).map { ClientID(routine: 0, uuid: UUIDv4(randomHigh: UInt64($0), randomLow: 7)) }
        for id in ids { memory.remember(id, reason: .idleExpiry) }
        #expect(memory.count == 3)
        #expect(ids.map { memory.reason(for: $0) } == [nil, nil, .idleExpiry, .idleExpiry, .idleExpiry])
        memory.forget(ids[3].uuid)
        #expect(memory.reason(for: ids[3]) == nil && memory.count == 2)
    }

    @Test("ack parameter: 1 to 20 digits; anything else is malformed", arguments: [
        ("/p?client-id=x&ack=0", AckParameter.acknowledging(0)),
        ("/p?ack=42&client-id=x", .acknowledging(42)),
        ("/p?ack=%34%32", .acknowledging(42)),
        ("/p?ack=00000000000000000007", .acknowledging(7)),
        ("/p?ack=18446744073709551615", .acknowledging(.max)),
        ("/p?ack=99999999999999999999", .acknowledging(.max)),
        ("/p?ack=123456789012345678901", .malformed),
        ("/p?ack=", .malformed),
        ("/p?ack", .malformed),
        ("/p?ack=-1", .malformed),
        ("/p?ack=+1", .malformed),
        ("/p?ack=1x", .malformed),
        ("/p?ack=%zz", .malformed),
        ("/p?ack=1&ack=x", .acknowledging(1)),
        ("/p?client-id=x", .absent),
        ("/p?acks=1", .absent),
    ])
    func ackParameter(target: String, expected: AckParameter) {
        #expect(AckParameter.parse(requestTarget: target.utf8) == expected)
    }

    @Test("the handshake object: client-id first and compact, then the settings in force (HS-6, AD-1)")
    func advertisedHandshake() throws {
        let id = ClientID(routine: 3, uuid: UUIDv4(randomHigh: 0x1234, randomLow: 0x5678))
        let configuration = BroadcasterConfiguration(clientBufferCapacity: 7, pollTimeout: .milliseconds(1500), idleExpiry: nil)
        let body = HandshakeBody.encode(id, advertising: configuration.advertisement)
        let text = String(decoding: body, as: UTF8.self)
        #expect(text == #"{"client-id":"\#(id)","gpoll":"1.1","poll-timeout":1.5,"client-buffer":7,"idle-expiry":0,"extensions":["ack"]}"#)
        #expect(try HandshakeBody.decode(body).get() == id)
        let (settings, problems) = AdvertisedSettings.decode(body)
        #expect(problems.isEmpty)
        #expect(settings == configuration.advertisement)
        #expect(settings.offersAck)

        var quiet = configuration
        quiet.advertisesSettings = false
        #expect(HandshakeBody.encode(id, advertising: quiet.advertisement) == HandshakeBody.encode(id))
        quiet.advertisesSettings = true
        quiet.offersAcknowledgedDelivery = false
        quiet.pollTimeout = .seconds(30)
        #expect(String(decoding: HandshakeBody.encode(id, advertising: quiet.advertisement), as: UTF8.self).hasSuffix(#""poll-timeout":30,"client-buffer":7,"idle-expiry":0,"extensions":[]}"#))
    }

    @Test("advertised members with the wrong JSON type are named (AD-3); unknown members are ignored")
    func advertisedTypes() {
        let body = Array(#"{"client-id":"0$x","gpoll":1.1,"poll-timeout":"30","client-buffer":0,"idle-expiry":-1,"extensions":["ack",3],"other":true}"#.utf8)
        let (settings, problems) = AdvertisedSettings.decode(body)
        #expect(settings.isEmpty)
        #expect(problems.count == 5, "\(problems)")
        let fine = AdvertisedSettings.decode(Array(#"{"extensions":[],"client-id":"0$x","x":{"y":[1]}}"#.utf8))
        #expect(fine.problems.isEmpty && fine.settings == AdvertisedSettings(extensions: []))
        // A client reads the id from any object, members in any order, unknown ones ignored.
        #expect(HandshakeBody.decodeClientIDText(Array(#"{"gpoll":"1.1","x":[1,{"a":null}],"client-id":"0$x"}"#.utf8)) == .success("0$x"))
    }
}
