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
/// the gaps longer than 50 ms, none over 300 s (the largest cap CL-16 allows).
///
/// The gaps are those of the case's first failures, so the client's first reported
/// backoffs are theirs (a later failure may add more reports).
func checkBackoffGaps(_ gaps: [Duration], atLeast: Int, context: ClientCaseContext, what: String) throws {
    try judgeBackoff(gaps, atLeast: atLeast, requirement: "CL-16", context: context, what: "before each \(what)",
                     firstReported: true)
    try context.check(gaps.allSatisfy { $0 <= .seconds(300) }, "CL-16", expected: "no gap over 300 s (the cap)",
                      actual: "gaps \(gaps.map(describe).joined(separator: ", "))")
}

/// Judges delays that a jittered backoff drew. CL-16 lets a delay be any time between
/// 0 and base × 2^(n−1), with base as small as 0.1 s, so a correct client can draw
/// short ones: fewer than `atLeast` over 50 ms FAILs only when every delay is under
/// 10 ms (no backoff at all: a correct client draws that with a chance of at most
/// 0.1^k for k delays); otherwise the case is inconclusive (SKIP, run it again),
/// never a false failure.
///
/// The delays are the gaps the scripted server measured, unless the client reported
/// its backoffs in the line protocol (`backoff` events): then the delays it says it
/// drew are judged, as measured gaps include how slowly a loaded machine ran it, and
/// a client without backoff on a busy machine looks like one with a short backoff.
/// The measured gaps still bound them: a reported delay the server did not see (a
/// gap shorter than it by more than 50 ms) fails.
///
/// `firstReported`: the measured gaps are those of the client's first backoffs, so the
/// first reports line up with them even when the client reported more afterwards;
/// otherwise the reports are used only when there are exactly as many as gaps.
func judgeBackoff(_ measured: [Duration], atLeast: Int, requirement: String, context: ClientCaseContext, what: String,
                  firstReported: Bool = false) throws {
    let all = context.reportedBackoffs
    let lineUp = firstReported ? all.count >= measured.count : all.count == measured.count
    let reported = lineUp ? Array(all.prefix(measured.count)) : []
    let useReported = lineUp && !reported.isEmpty
    if useReported, let (gap, said) = zip(measured, reported).first(where: { $0.0 + .milliseconds(50) < $0.1 }) {
        throw context.fail(requirement, expected: "each reported backoff actually waited \(what)",
                           actual: "a reported delay of \(describe(said)) but the next request came \(describe(gap)) after the answer")
    }
    let gaps = useReported ? reported : measured
    guard gaps.filter({ $0 > .milliseconds(50) }).count < atLeast else { return }
    let shown = (useReported ? "reported " : "") + gaps.map(describe).joined(separator: ", ")
    if gaps.allSatisfy({ $0 < .milliseconds(10) }) {
        throw context.fail(requirement, expected: "a jittered backoff delay \(what) (at least \(atLeast) of the \(gaps.count) over 50 ms)",
                           actual: "no backoff: every delay under 10 ms (\(shown))")
    }
    throw CaseStop.inconclusive("the backoff delays \(what) were short (\(shown)): a jittered backoff with a small base can draw these, so this run proves nothing either way; run the case again")
}
