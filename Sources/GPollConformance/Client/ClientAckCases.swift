import GPollWire
import GPollCore
import Synchronization

/// Acknowledged delivery in a client (CL-22 to CL-24); run with `--ack` only.
enum ClientAckCases {
    static let all: [ClientConformanceCase] = [lostAnswer, restartAtZero]

    static let offersAck = "\"gpoll\":\"1.1\",\"extensions\":[\"ack\"]"

    static func sequenced(_ body: [UInt8], _ sequence: Int) -> ScriptedReply {
        .message(body, headers: [("GPoll-Sequence", String(sequence))])
    }

    /// client/017: a lost 200 re-sent on the same ack, a duplicate dropped.
    static let lostAnswer = ClientConformanceCase("client/017", limit: .seconds(60)) { context in
        let id = freshClientID()
        let messages = ["m1", "m2", "m3"].map { caseMessage(context.caseID, $0) }
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id, extra: offersAck)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            switch count {
            case 1: return sequenced(messages[0], 1)
            case 2: return ScriptedReply(delay: .zero, action: .truncate(status: 200, headers: [("GPoll-Sequence", "2")],
                                                                          body: messages[1], sentBytes: 3))
            case 3, 4: return sequenced(messages[1], 2)
            case 5: return sequenced(messages[2], 3)
            default: return .hold
            }
        }
        let client = try await context.launch(endpoint.url)
        await context.wait(within: .seconds(30)) { polls.withLock { $0 } >= 6 }
        // The last message's line may come after the poll that follows it; then a moment
        // more for a duplicate line.
        await context.wait(within: .seconds(5)) { client.messages.count >= messages.count }
        await context.pause(.milliseconds(300))
        let polled = context.requests.filter { !$0.isHandshake }
        let expectedAcks: [UInt64] = [0, 1, 1, 2, 2, 3]
        let acks = polled.prefix(expectedAcks.count).map { $0.ackValue.map(String.init) ?? "none" }
        try context.check(acks == expectedAcks.map(String.init), "CL-22",
                          expected: "ack= on every poll the highest sequence received so far: \(expectedAcks.map(String.init).joined(separator: ", "))",
                          actual: "ack " + acks.joined(separator: ", ") + " (\(describeRequests(Array(polled.prefix(6)))))")
        try context.check(client.messages == messages, "CL-23", expected: "m1, m2, m3 printed once each, in order: \(describeMessages(messages))",
                          actual: describeMessages(client.messages))
    }

    /// client/018: after a 404 the new id's first poll carries ack=0.
    static let restartAtZero = ClientConformanceCase("client/018", limit: .seconds(60)) { context in
        let a = freshClientID(), b = freshClientID()
        let messages = ["m1", "m2"].map { caseMessage(context.caseID, $0) }
        let state = Mutex((handshakes: 0, pollsOfA: 0))
        let endpoint = try await context.serve { request in
            state.withLock { state in
                if request.isHandshake {
                    state.handshakes += 1
                    return .message(handshakeBody(state.handshakes == 1 ? a : b, extra: offersAck))
                }
                guard request.polledID == Array(a.utf8) else { return .hold }
                state.pollsOfA += 1
                return state.pollsOfA <= 2 ? sequenced(messages[state.pollsOfA - 1], state.pollsOfA) : .respond(404)
            }
        }
        try await context.launch(endpoint.url)
        guard let firstOfB = await context.request(after: nil, within: .seconds(30), where: { $0.polledID == Array(b.utf8) }) else {
            throw context.fail("CL-24", expected: "two messages to \(a), a 404, a handshake, a poll of the new id \(b)",
                               actual: describeRequests(context.requests))
        }
        try context.check(firstOfB.ackValue == 0, "CL-24", expected: "the first poll of the new id to carry ack=0", actual: firstOfB.line)
    }
}
