import GPollWire
import Foundation
import GPollCore
import Synchronization

/// Answers and what a client does next (CL-11 to CL-14, CL-16 to CL-20).
enum ClientAnswerCases {
    static let all: [ClientConformanceCase] = [pollAgain, earlyNoContent, notFound, gapReported, retryAfter, serverErrors,
                                               droppedPoll, redirect, clientErrors]

    /// client/007: after a 204 that came after T and after a 200, the next poll at once.
    static let pollAgain = ClientConformanceCase("client/007", limit: .seconds(40)) { context in
        let id = freshClientID()
        let message = caseMessage(context.caseID, "m1")
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id, extra: "\"gpoll\":\"1.1\",\"poll-timeout\":1")) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            switch count {
            case 1: return .noContent(after: .seconds(1))
            case 2: return .message(message)
            default: return .hold
            }
        }
        let client = try await context.launch(endpoint.url)
        await context.wait(within: .seconds(20)) { polls.withLock { $0 } >= 3 && client.messages.contains(message) }
        let polled = context.requests.filter { !$0.isHandshake }
        guard polled.count >= 3 else {
            throw context.fail("CL-11", expected: "a poll after the 204 and another after the 200", actual: describeRequests(context.requests))
        }
        for (previous, next) in zip(polled, polled.dropFirst()).prefix(2) {
            guard let answer = context.log.answer(to: previous.index) else { continue }
            let gap = next.at - answer.at
            try context.check(gap <= .seconds(1), "CL-11",
                              expected: "the next poll within 1 s of the \(answer.status == 204 ? "204 after T" : "200")",
                              actual: "it came \(describe(gap)) after it")
            try context.check(next.polledID == Array(id.utf8), "CL-11", expected: "the same id polled again", actual: next.line)
        }
        try context.check(client.messages.contains(message), "CL-11", expected: "message \(hex(message)) printed",
                          actual: describeMessages(client.messages) + " printed")
    }

    /// client/008: an early 204, polled again; a second early 204 in a row, a new handshake.
    static let earlyNoContent = ClientConformanceCase("client/008", limit: .seconds(40)) { context in
        let endpoint = try await context.serve { request in
            request.isHandshake ? .message(handshakeBody(freshClientID(), extra: "\"gpoll\":\"1.1\",\"poll-timeout\":30")) : .noContent()
        }
        try await context.launch(endpoint.url)
        await context.wait(within: .seconds(20)) { context.requests.count >= 4 }
        let requests = Array(context.requests.prefix(4))
        guard requests.count == 4, requests[0].isHandshake, requests[1].polledID != nil else {
            throw context.fail("CL-12", expected: "a handshake, a poll, a poll, a handshake", actual: describeRequests(requests))
        }
        try context.check(requests[2].polledID == requests[1].polledID, "CL-12",
                          expected: "after the first early 204, a poll of the same id", actual: requests[2].line)
        if let answer = context.log.answer(to: requests[1].index) {
            try context.check(requests[2].at - answer.at <= .seconds(1), "CL-12", expected: "that poll at once (within 1 s)",
                              actual: "it came \(describe(requests[2].at - answer.at)) after the 204")
        }
        try context.check(requests[3].isHandshake, "CL-12", expected: "after the second early 204 in a row, a handshake",
                          actual: requests[3].line)
    }

    /// The script of client/010 and client/011: m1 and m2 to A, 404, then m3 to B.
    private static func notFoundScript(_ context: ClientCaseContext) async throws -> (endpoint: ScriptedEndpoint, a: String, b: String,
                                                                                       messages: [[UInt8]]) {
        let a = freshClientID(), b = freshClientID()
        let messages = ["m1", "m2", "m3"].map { caseMessage(context.caseID, $0) }
        let state = Mutex((handshakes: 0, pollsOfA: 0, pollsOfB: 0))
        let endpoint = try await context.serve { request in
            state.withLock { state in
                if request.isHandshake {
                    state.handshakes += 1
                    return .message(handshakeBody(state.handshakes == 1 ? a : b))
                }
                if request.polledID == Array(a.utf8) {
                    state.pollsOfA += 1
                    return state.pollsOfA <= 2 ? .message(messages[state.pollsOfA - 1]) : .respond(404)
                }
                if request.polledID == Array(b.utf8) {
                    state.pollsOfB += 1
                    return state.pollsOfB == 1 ? .message(messages[2], after: .milliseconds(200)) : .hold
                }
                return .respond(404)
            }
        }
        return (endpoint, a, b, messages)
    }

    /// client/010: 404 mid-stream: a handshake next, then only the new id.
    static let notFound = ClientConformanceCase("client/010", limit: .seconds(40)) { context in
        let (endpoint, a, b, messages) = try await notFoundScript(context)
        let client = try await context.launch(endpoint.url)
        await context.wait(within: .seconds(20)) { client.messages.contains(messages[2]) }
        await context.pause(.milliseconds(300))
        let requests = context.requests
        let polledA = requests.filter { $0.polledID == Array(a.utf8) }
        guard polledA.count >= 3, let notFound = context.log.answers.first(where: { $0.status == 404 }) else {
            throw context.fail("CL-13", expected: "three polls of \(a), the third answered 404", actual: describeRequests(requests))
        }
        let after = requests.filter { $0.index > notFound.request }
        guard let next = after.first else {
            throw context.fail("CL-13", expected: "a handshake after the 404", actual: "no request after it")
        }
        try context.check(next.isHandshake, "CL-13", expected: "a handshake after the 404 (not another poll of \(a))", actual: next.line)
        if let stale = after.first(where: { !$0.isHandshake && $0.polledID != Array(b.utf8) }) {
            throw context.fail("CL-13", expected: "after the 404, polls of the new id \(b) only", actual: stale.line)
        }
        try context.check(client.messages.contains(messages[2]), "CL-13", expected: "the message sent to the new id printed",
                          actual: describeMessages(client.messages) + " printed")
    }

    /// client/011: the re-registration reported once, between m2 and m3.
    static let gapReported = ClientConformanceCase("client/011", limit: .seconds(40)) { context in
        let (endpoint, _, _, messages) = try await notFoundScript(context)
        let client = try await context.launch(endpoint.url)
        await context.wait(within: .seconds(20)) { client.messages.contains(messages[2]) }
        await context.pause(.milliseconds(500))
        let events = client.events.filter {
            switch $0 {
            case .message, .registeredAgain: return true
            default: return false
            }
        }
        let expected: [ClientEvent] = [.message(messages[0]), .message(messages[1]), .registeredAgain(clientID: nil), .message(messages[2])]
        let shown = events.map { event -> String in
            if case .message(let bytes) = event { return "message \(hex(bytes))" }
            return "gap"
        }.joined(separator: ", ")
        let normalized = events.map { event -> ClientEvent in
            if case .registeredAgain = event { return .registeredAgain(clientID: nil) }
            return event
        }
        try context.check(normalized == expected, "CL-14",
                          expected: "message \(hex(messages[0])), message \(hex(messages[1])), gap (registered-again), message \(hex(messages[2]))",
                          actual: shown.isEmpty ? "nothing printed" : shown)
    }

    /// client/012: Retry-After as seconds, then as an HTTP-date: no request before.
    static let retryAfter = ClientConformanceCase("client/012", limit: .seconds(60)) { context in
        let id = freshClientID()
        let log = context.log
        // When the HTTP-date answer said to come back, on the case's clock.
        let dateDeadline = Mutex<Duration?>(nil)
        let endpoint = try await context.serve { request in
            switch request.index {
            case 0:
                return .respond(503, headers: [("Retry-After", "2")])
            case 1:
                // A whole second 3 s or more ahead (an HTTP-date has no fractions).
                let wall = Date().timeIntervalSince1970
                let target = (wall + 3).rounded(.up)
                dateDeadline.withLock { $0 = log.now + .milliseconds(Int((target - wall) * 1000)) }
                return .respond(503, headers: [("Retry-After", httpDate(Date(timeIntervalSince1970: target)))])
            default:
                return request.isHandshake ? .message(handshakeBody(id)) : .hold
            }
        }
        try await context.launch(endpoint.url)
        let polled = await context.request(after: nil, within: .seconds(40), where: { !$0.isHandshake })
        let requests = context.requests
        guard requests.count >= 3 else {
            throw context.fail("CL-17", expected: "three handshakes", actual: describeRequests(requests))
        }
        if let first = context.log.answer(to: 0) {
            let gap = requests[1].at - first.at
            try context.check(gap >= .milliseconds(1990), "CL-17", expected: "the second handshake no sooner than 2 s after the 503 with Retry-After: 2",
                              actual: "it came \(describe(gap)) after it")
        }
        if let deadline = dateDeadline.withLock({ $0 }) {
            try context.check(requests[2].at >= deadline - .milliseconds(10), "CL-17",
                              expected: "the third handshake no sooner than the Retry-After HTTP-date",
                              actual: "it came \(describe(deadline - requests[2].at)) before it")
        }
        try context.check(polled?.polledID == Array(id.utf8), "CL-17", expected: "a poll after the third handshake",
                          actual: describeRequests(requests))
    }

    /// client/013: handshakes answered 5xx until the backoff has shown that it grows
    /// (or 16 failures), then a success and a poll answered 500: a jittered exponential
    /// backoff, reset by the success.
    ///
    /// Growth is judged so that a correct client cannot fail it by bad luck: CL-16's
    /// first delay is at most the base (1 s at most), so a delay over 1.5 s is growth.
    /// The failures go on until one is seen. At the smallest base (0.1 s) and cap (10 s)
    /// the bounds of the 5th to 16th delays are 1.6, 3.2, 6.4 and then 10 s, so a
    /// correct client draws all 16 under 1.5 s with a chance under 1e-9; a client whose
    /// delays do not grow never passes 1.5 s.
    static let serverErrors = ClientConformanceCase("client/013", limit: .seconds(600)) { context in
        let id = freshClientID()
        let statuses = [500, 502, 503]
        let maxFailures = 16
        let growth = Duration.milliseconds(1500)
        let failures = Mutex(0)
        let polls = Mutex(0)
        let log = context.log
        let endpoint = try await context.serve { request in
            if request.isHandshake {
                let failed = failures.withLock { $0 }
                // Requests before the success are all handshakes, so request n answers failure n.
                guard failed == request.index else { return .message(handshakeBody(id)) }
                let grown = request.index > 0 && judgedDelay(ofFailure: request.index - 1, arrivedAt: request.at,
                                                             log: log, context: context) > growth
                if grown || failed == maxFailures { return .message(handshakeBody(id)) }
                failures.withLock { $0 += 1 }
                return .respond(statuses[failed % statuses.count])
            }
            let count = polls.withLock { value -> Int in value += 1; return value }
            // One more failure after the success: its delay starts small again.
            return count == 1 ? .respond(500) : .hold
        }
        try await context.launch(endpoint.url)
        await context.wait(within: .seconds(580)) { polls.withLock { $0 } >= 2 }
        let requests = context.requests
        let failed = failures.withLock { $0 }
        guard failed > 0, requests.count >= failed + 3 else {
            throw context.fail("CL-16", expected: "handshakes answered 5xx, then a good one, a poll answered 500, a poll again",
                               actual: describeRequests(requests))
        }
        let gaps = backoffGaps(Array(0...failed), context: context)
        try checkBackoffGaps(gaps, atLeast: (failed + 1) / 2, context: context, what: "handshake after a 5xx")
        let reported = context.reportedBackoffs
        let judged = reported.count >= gaps.count ? Array(reported.prefix(gaps.count)) : gaps
        let source = reported.count >= gaps.count ? "reported delays" : "gaps"
        let shown = judged.map(describe).joined(separator: ", ")
        // The n-th delay is at most min(cap, base × 2^(n−1)) ≤ 2^(n−1) s; only a reported
        // delay is exact enough to judge against it (a measured gap includes the machine's stalls).
        if source == "reported delays",
           let (n, delay) = judged.enumerated().first(where: { $0.element > .seconds(min(300, 1 << min($0.offset, 20))) + .milliseconds(50) }) {
            throw context.fail("CL-16", expected: "the delay after failure \(n + 1) at most min(cap, base × 2^\(n)) ≤ \(min(300, 1 << min(n, 20))) s",
                               actual: "a reported delay of \(describe(delay)) (\(source): \(shown))")
        }
        if !judged.contains(where: { $0 > growth }) {
            guard failed == maxFailures else {
                throw CaseStop.inconclusive("the failures stopped at \(failed) because a gap passed 1.5 s, but the client's reports say its delays stayed under it (\(source): \(shown)); run the case again")
            }
            throw context.fail("CL-16", expected: "the delays to grow: one of \(maxFailures) consecutive delays over 1.5 s (more than the largest first delay, 1 s)",
                               actual: "every one under 1.5 s (\(source): \(shown))")
        }
        // After the success the count starts again: the delay is at most base (1 s),
        // judged generously against the longest delay before it.
        let resetGap = backoffGaps([failed + 1, failed + 2], context: context).first ?? .zero
        let reset = reported.count > gaps.count && resetGap + .milliseconds(50) >= reported[gaps.count] ? reported[gaps.count] : resetGap
        let longest = judged.max() ?? .zero
        try context.check(reset < .milliseconds(1500) || reset < longest / 4, "CL-16",
                          expected: "after the success, the next failure's delay small again (at most the base, 1 s)",
                          actual: "\(describe(reset)) after the poll's 500 (the longest before: \(describe(longest)))")
    }

    /// The delay the client waited after failure `n` (from 0), as its report says if it
    /// reported that failure's backoff, else the gap the scripted server measured.
    /// A client that reports backoffs but whose report has not been read yet gets zero:
    /// the case then sends another failure, which costs time but cannot mislead.
    private static func judgedDelay(ofFailure n: Int, arrivedAt: Duration, log: ClientWireLog, context: ClientCaseContext) -> Duration {
        guard let answer = log.answer(to: n) else { return .zero }
        let measured = arrivedAt - answer.at
        let reported = context.reportedBackoffs
        if reported.count > n { return min(reported[n], measured + .milliseconds(50)) }
        return reported.isEmpty ? measured : .zero
    }

    /// client/014: a poll's connection lost: at once the first time, a backoff the second.
    static let droppedPoll = ClientConformanceCase("client/014", limit: .seconds(300)) { context in
        let id = freshClientID()
        let rounds = 5
        let messages = (1...rounds).map { caseMessage(context.caseID, "m\($0)") }
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            let round = (count - 1) / 3
            guard round < rounds else { return .hold }
            switch (count - 1) % 3 {
            case 0: return .drop(after: .seconds(1))
            case 1: return .drop()
            default: return .message(messages[round])
            }
        }
        let client = try await context.launch(endpoint.url)
        await context.wait(within: .seconds(280)) { polls.withLock { $0 } > rounds * 3 }
        // A client may poll again before it prints what the last answer brought (a CI
        // run saw the poll 2 ms before the line): give the line time to come.
        await context.wait(within: .seconds(5)) { client.messages.count >= rounds }
        let polled = context.requests.filter { !$0.isHandshake }
        if let other = context.requests.dropFirst().first(where: { $0.polledID != Array(id.utf8) }) {
            throw context.fail("CL-20", expected: "after each lost connection, a poll of the same id \(id)", actual: other.line)
        }
        guard polled.count > rounds * 3 else {
            throw context.fail("CL-20", expected: "\(rounds) rounds of three polls (dropped after 1 s, dropped at once, answered)",
                               actual: describeRequests(context.requests))
        }
        var backoffs: [Duration] = []
        for round in 0..<rounds {
            let first = polled[round * 3], second = polled[round * 3 + 1], third = polled[round * 3 + 2]
            if let lost = context.log.answer(to: first.index) {
                try context.check(second.at - lost.at <= .seconds(1), "CL-20", expected: "the first re-poll within 1 s of the lost connection",
                                  actual: "round \(round + 1): \(describe(second.at - lost.at)) after it")
            }
            if let lost = context.log.answer(to: second.index) { backoffs.append(third.at - lost.at) }
        }
        let shown = backoffs.map(describe).joined(separator: ", ")
        try judgeBackoff(backoffs, atLeast: 1, requirement: "CL-20", context: context, what: "after a second lost connection in a row")
        try context.check(backoffs.allSatisfy { $0 <= .seconds(300) }, "CL-20", expected: "no delay over 300 s", actual: "delays \(shown)")
        try context.check(Array(client.messages.prefix(rounds)) == messages, "CL-20", expected: "every message printed, in order",
                          actual: describeMessages(client.messages))
    }

    /// client/019: a 302 to a second listener is not followed.
    static let redirect = ClientConformanceCase("client/019", limit: .seconds(120)) { context in
        let id = freshClientID()
        let redirects = 3
        let polls = Mutex(0)
        // The second listener's URL, known once it listens (after the endpoint, listener 0).
        let location = Mutex("")
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(id)) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count <= redirects ? .respond(302, headers: [("Location", location.withLock { $0 })]) : .hold
        }
        let second = try await context.serve { _ in .message(handshakeBody(freshClientID())) }
        location.withLock { $0 = second.url + "?client-id=0" }
        try await context.launch(endpoint.url)
        await context.wait(within: .seconds(100)) { polls.withLock { $0 } > redirects || context.requests.contains { $0.listener == 1 } }
        await context.pause(.milliseconds(300))
        let requests = context.requests
        if let followed = requests.first(where: { $0.listener == 1 }) {
            throw context.fail("CL-18", expected: "no request at the redirect's Location", actual: followed.line + " at the second listener")
        }
        let ours = requests.filter { $0.listener == 0 && !$0.isHandshake }
        guard ours.count > redirects else {
            throw context.fail("CL-18", expected: "\(redirects) polls answered 302, then a request to the endpoint again",
                               actual: describeRequests(requests))
        }
        // From each 302 to the next request at the endpoint.
        let gaps = ours.prefix(redirects).compactMap { redirected -> Duration? in
            guard let answer = context.log.answer(to: redirected.index),
                  let next = requests.first(where: { $0.index > redirected.index && $0.listener == 0 }) else { return nil }
            return next.at - answer.at
        }
        try judgeBackoff(gaps, atLeast: 1, requirement: "CL-18", context: context, what: "after each 302")
    }

    /// client/020: 400, 405, 414 on polls: a backoff, then a handshake before the next poll.
    static let clientErrors = ClientConformanceCase("client/020", limit: .seconds(120)) { context in
        let statuses = [400, 405, 414]
        let polls = Mutex(0)
        let endpoint = try await context.serve { request in
            if request.isHandshake { return .message(handshakeBody(freshClientID())) }
            let count = polls.withLock { value -> Int in value += 1; return value }
            return count <= statuses.count ? .respond(statuses[count - 1]) : .hold
        }
        try await context.launch(endpoint.url)
        await context.wait(within: .seconds(100)) { polls.withLock { $0 } > statuses.count }
        let requests = context.requests
        let failed = context.log.answers.filter { statuses.contains($0.status ?? 0) }
        guard failed.count == statuses.count else {
            throw context.fail("CL-19", expected: "three polls answered 400, 405 and 414, each followed by a handshake and a poll",
                               actual: describeRequests(requests))
        }
        var gaps: [Duration] = []
        for answer in failed {
            guard let next = requests.first(where: { $0.index > answer.request }) else {
                throw context.fail("CL-19", expected: "a request after the \(answer.status!)", actual: "none")
            }
            try context.check(next.isHandshake, "CL-19", expected: "a handshake after the \(answer.status!) to a poll (not that id again)",
                              actual: next.line)
            gaps.append(next.at - answer.at)
        }
        try judgeBackoff(gaps, atLeast: 1, requirement: "CL-19", context: context, what: "after each of 400, 405 and 414")
    }

    /// `Tue, 01 Dec 2026 10:00:03 GMT` (RFC 9110's IMF-fixdate).
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
