import GPollWire
import Foundation
import GPollCore
import Synchronization

/// Slow answers and request timeouts (CL-2, CL-9, CL-15, CL-21, CL-26). A slow client
/// is not wrong: these judge only what must not happen before a time.
enum ClientTimingCases {
    static let all: [ClientConformanceCase] = [slowAnswer, timeoutAboveT, advertisedSettings, unknownT]

    /// Whether the client closed (or half-closed) the connection of `request` before `time`.
    ///
    /// The server times a request from when it read it, which on a loaded machine can
    /// be most of a second after the client sent it (and started its own timer): a
    /// close up to 1 s before `time` is still allowed, plus the longest stall of the
    /// scripted server's event loops during the case (a fresh-clone CI run saw the
    /// server note a poll 1.3 s late, and an honest 7 s timeout looked like 5.7 s), so
    /// an honest timeout is never taken for a short one (the wrong clients these cases
    /// catch give up seconds early).
    static func clientGaveUp(on request: ClientRequest, before time: Duration, context: ClientCaseContext) -> Duration? {
        let allowance = serverReadAllowance + context.log.longestLoopStall
        guard let ended = context.log.connection(of: request).clientEnded, ended < time - allowance else { return nil }
        return ended
    }

    static let serverReadAllowance: Duration = .seconds(1)

    /// client/009: a poll held 20 s: no second poll of the id meanwhile, no half-close.
    static let slowAnswer = ClientConformanceCase("client/009", limit: .seconds(60)) { context in
        let id = freshClientID()
        let message = caseMessage(context.caseID, "m1")
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count == 1 ? .message(message, after: .seconds(20)) : .hold
        }
        let client = try await context.launch(endpoint.url)
        guard let first = await context.request(after: nil, within: .seconds(20), where: { !$0.isHandshake }) else {
            throw context.fail("CL-9", expected: "a poll", actual: describeRequests(context.requests))
        }
        // Until the message and the poll after it, or a second poll before the answer.
        await context.wait(within: .seconds(22)) {
            polls.withLock { $0 } >= 2 && (client.messages.contains(message) || context.log.answer(to: first.index) == nil)
        }
        let connection = context.log.connection(of: first)
        let answer = context.log.answer(to: first.index)
        // A FIN before the answer and the answer read anyway: it only half-closed.
        if let fin = connection.clientFIN, fin < answer?.at ?? context.now, client.messages.contains(message) {
            throw context.fail("CL-2", expected: "no half-close (FIN) while the poll waits for its answer",
                               actual: "FIN from the client on c\(connection.number) at \(describe(fin)), \(describe(fin - first.at)) after its poll, "
                                   + "and the answer sent at 20 s read and printed after it")
        }
        // The first poll is in flight until it is answered or the client ends its connection.
        // The FIN and the next connection's request reach the server on different event
        // loops, in either order: a client that closed and then polled can have its new
        // poll read first (a fresh-clone CI run saw the FIN 12 ms after the poll). So
        // when a second poll came while the first looked open, the first connection
        // gets 1 s plus the longest loop stall to show its FIN, and a FIN that follows
        // the second poll by up to 100 ms plus that stall counts as before it.
        let isSecondPoll = { (request: ClientRequest) in request.index > first.index && request.polledID == first.polledID }
        if answer == nil, connection.clientEnded == nil, context.requests.contains(where: isSecondPoll) {
            await context.wait(within: serverReadAllowance + context.log.longestLoopStall) {
                context.log.connection(of: first).clientEnded != nil
            }
        }
        let reorderAllowance = Duration.milliseconds(100) + context.log.longestLoopStall
        let ended = [answer?.at, context.log.connection(of: first).clientEnded].compactMap { $0 }.min()
        if let second = context.requests.first(where: { request in
            isSecondPoll(request) && ended.map { request.at < $0 - reorderAllowance } ?? true
        }) {
            throw context.fail("CL-9", expected: "no second poll of the id while the first is open",
                               actual: "\(second.line) at \(describe(second.at)) on c\(second.connection), the first poll still open on c\(first.connection)")
        }
    }

    /// client/015: T = 2 and a 204 only after 6.5 s: the poll stays open.
    static let timeoutAboveT = ClientConformanceCase("client/015", limit: .seconds(60)) { context in
        let id = freshClientID()
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id, extra: "\"gpoll\":\"1.1\",\"poll-timeout\":2")) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count == 1 ? .noContent(after: .milliseconds(6500)) : .hold
        }
        try await context.launch(endpoint.url)
        guard let first = await context.request(after: nil, within: .seconds(20), where: { !$0.isHandshake }) else {
            throw context.fail("CL-15", expected: "a poll", actual: describeRequests(context.requests))
        }
        await context.wait(within: .seconds(8)) {
            context.log.answer(to: first.index) != nil || clientGaveUp(on: first, before: context.now + .seconds(1), context: context) != nil
        }
        let answered = context.log.answer(to: first.index)?.at ?? (first.at + .seconds(7))
        if let gaveUp = clientGaveUp(on: first, before: min(answered, first.at + .seconds(7)), context: context) {
            throw context.fail("CL-15", expected: "the poll open for T + 5 s = 7 s, or until the 204 at 6.5 s",
                               actual: "the client closed it \(describe(gaveUp - first.at)) after sending it")
        }
    }

    /// client/016: the advertised T = 40 used as the request timeout; `ack=0` when it does ack.
    static let advertisedSettings = ClientConformanceCase("client/016", limit: .seconds(90)) { context in
        let id = freshClientID()
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake {
                return .message(handshakeBody(id, extra: "\"gpoll\":\"1.1\",\"poll-timeout\":40,\"extensions\":[\"ack\"]"))
            }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count == 1 ? .noContent(after: .seconds(40)) : .hold
        }
        try await context.launch(endpoint.url)
        guard let first = await context.request(after: nil, within: .seconds(20), where: { !$0.isHandshake }) else {
            throw context.fail("CL-21", expected: "a poll", actual: describeRequests(context.requests))
        }
        if context.clientUsesAck {
            try context.check(first.ackValue == 0, "CL-21", expected: "the first poll to carry ack=0 (the server offers ack)",
                              actual: first.line)
        }
        await context.wait(within: .seconds(42)) {
            context.log.answer(to: first.index) != nil || clientGaveUp(on: first, before: context.now + .seconds(1), context: context) != nil
        }
        let answered = context.log.answer(to: first.index)?.at ?? (first.at + .seconds(40))
        if let gaveUp = clientGaveUp(on: first, before: answered, context: context) {
            throw context.fail("CL-21", expected: "the poll open until the 204 after the advertised poll-timeout of 40 s",
                               actual: "the client closed it \(describe(gaveUp - first.at)) after sending it")
        }
    }

    /// client/023: T unknown: a poll open 59 s until its 204; a request timeout, when
    /// it comes, followed by a poll at once.
    static let unknownT = ClientConformanceCase("client/023", limit: .seconds(240)) { context in
        let id = freshClientID()
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            switch count {
            case 1: return .noContent(after: .seconds(59))
            case 2: return .noContent(after: .seconds(130))
            default: return .hold
            }
        }
        try await context.launch(endpoint.url)
        guard let first = await context.request(after: nil, within: .seconds(20), where: { !$0.isHandshake }) else {
            throw context.fail("CL-26", expected: "a poll", actual: describeRequests(context.requests))
        }
        await context.wait(within: .seconds(61)) {
            context.log.answer(to: first.index) != nil || clientGaveUp(on: first, before: context.now + .seconds(1), context: context) != nil
        }
        // Until its 204 (at 59 s): a client that closed first gave up before it.
        if let gaveUp = clientGaveUp(on: first, before: context.log.answer(to: first.index)?.at ?? (first.at + .seconds(59)),
                                     context: context) {
            throw context.fail("CL-26", expected: "with no T known, the poll open until its 204 after 59 s (a timeout of 60 s or more)",
                               actual: "the client closed it \(describe(gaveUp - first.at)) after sending it")
        }
        guard let second = await context.request(after: first.index, within: .seconds(5), where: { !$0.isHandshake }) else {
            throw context.fail("CL-26", expected: "a poll after the 204", actual: describeRequests(context.requests))
        }
        // Until the 130 s answer, or the client's own timeout and the poll after it.
        await context.wait(within: .seconds(132)) {
            if context.log.answer(to: second.index) != nil { return true }
            guard let closed = context.log.connection(of: second).clientEnded else { return false }
            return context.requests.contains { $0.index > second.index } || context.now > closed + .seconds(2)
        }
        if let closed = context.log.connection(of: second).clientEnded, closed < context.log.answer(to: second.index)?.at ?? context.now {
            let next = context.requests.first { $0.index > second.index }
            try context.check(next?.polledID == Array(id.utf8) && next.map { $0.at - closed <= .seconds(1) } == true, "CL-26",
                              expected: "after its own request timeout, a poll of the same id within 1 s of the close, without backoff",
                              actual: next.map { "\($0.line) \(describe($0.at - closed)) after the close" } ?? "no request within 2 s of the close")
        }
    }
}
