import GPollWire
import Foundation

/// Every client case this build can run (Spec section 19, `client/NNN`). The
/// consistency test checks these ids against the catalog's client cases.
public enum ClientCaseRegistry {
    public static let all: [ClientConformanceCase] = ClientRequestCases.all + ClientAnswerCases.all + ClientTimingCases.all
        + ClientAckCases.all

    public static var ids: [String] { all.map(\.id) }
}

/// A message with the case in it, so a transcript shows where it came from.
func caseMessage(_ caseID: String, _ label: String) -> [UInt8] { Array("\(caseID) \(label)".utf8) }

// MARK: - Backoff judgement (CL-16)

/// For each request index but the last: the time from the scripted server's answer
/// to that request to the client's next request.
func backoffGaps(_ indexes: [Int], context: ClientCaseContext) -> [Duration] {
    let requests = context.requests
    return zip(indexes, indexes.dropFirst()).compactMap { previous, next in
        guard let answer = context.log.answer(to: previous) else { return nil }
        return requests[next].at - answer.at
    }
}

/// A slow client is not wrong, so only the floor is judged: at least `atLeast` of
/// the gaps longer than 50 ms (a client without backoff comes back in a few ms),
/// none over 300 s (the largest cap CL-16 allows).
func checkBackoffGaps(_ gaps: [Duration], atLeast: Int, context: ClientCaseContext, what: String) throws {
    let shown = gaps.map(describe).joined(separator: ", ")
    try context.check(gaps.filter { $0 > .milliseconds(50) }.count >= atLeast, "CL-16",
                      expected: "a jittered backoff delay before each \(what): at least \(atLeast) of the \(gaps.count) gaps over 50 ms",
                      actual: "gaps \(shown)")
    try context.check(gaps.allSatisfy { $0 <= .seconds(300) }, "CL-16", expected: "no gap over 300 s (the cap)", actual: "gaps \(shown)")
}
