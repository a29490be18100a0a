import GPollCore
import NIOCore

/// The request flow of one HTTP/1 connection of ``GPollHTTPHandler``, as a state
/// machine: the handler feeds it events (a request's head, body and end; a poll
/// that starts waiting; that poll's answer; a quiesce; the connection's end) and
/// does what the returned action says. It performs no I/O and knows no endpoint's
/// state, only this connection's:
///
/// - the request being read (a gpoll request, one to reject, or one passed on);
/// - the poll that waits on this connection, at most one;
/// - the backlog: complete requests a pipelining client sent behind its waiting
///   poll, answered in order once it is (past ``maximumBacklog`` the connection is
///   closed rather than buffered further);
/// - quiescing: the server shuts down, so every answer closes the connection and
///   an idle connection closes at once.
///
/// Modelled on swift-nio's `HTTPServerPipelineHandler`, which orders pipelined
/// requests the same way but stops reading the socket while any answer is
/// outstanding: for a long-poll server that is two `epoll_ctl` calls per delivery.
struct ConnectionStateMachine {
    /// A complete gpoll request, or the answer decided for it at its head.
    enum Request {
        /// Served at its end: a handshake or a poll of `endpoint`.
        case gpoll(GPollEndpoint, target: String, keepAlive: ConnectionReuse)
        /// Answered with this at its end (404, 405, 414).
        case reject(GPollResponse, keepAlive: ConnectionReuse)
    }

    /// What a request's head was found to be by the handler (which knows the router).
    enum Head {
        case request(Request)
        /// A path that is no endpoint, with ``GPollHTTPHandler/UnknownPathPolicy/forward``.
        case forward
    }

    /// The poll waiting on this connection: the server's one record of it (the
    /// loop's registry holds connections by slot, not polls; the broadcaster keeps
    /// the client's token). An answer is written only if its token is this one.
    struct WaitingPoll {
        let token: PollToken
        let endpoint: GPollEndpoint
        let keepAlive: ConnectionReuse
    }

    private enum Reading {
        case idle
        case request(Request)
        case forwarding
    }

    /// How many requests a client may pipeline behind its waiting poll.
    static let maximumBacklog = 16

    private var reading = Reading.idle
    private(set) var waiting: WaitingPoll?
    /// An array, not a CircularBuffer: an empty array allocates nothing, where a
    /// CircularBuffer allocates 16 slots at once, for every idle connection (at
    /// most ``maximumBacklog`` entries make removing from the front cheap enough).
    private var backlog: [Request] = []
    private(set) var isQuiescing = false

    // MARK: Reading requests

    /// What to do with a request's head.
    enum HeadAction: Equatable {
        /// Pass the head on down the pipeline.
        case forward
        /// Answer `Expect: 100-continue` now (nothing waits ahead of this request).
        case continueIfExpected
        /// Nothing yet: the request is answered at its end.
        case none
    }

    mutating func headReceived(_ head: Head) -> HeadAction {
        switch head {
        case .forward:
            reading = .forwarding
            return .forward
        case .request(let request):
            reading = .request(request)
            if case .gpoll = request, waiting == nil { return .continueIfExpected }
            return .none
        }
    }

    /// Whether a body part goes on down the pipeline (gpoll ignores request bodies;
    /// reading them keeps the connection usable).
    func bodyReceived() -> Bool {
        if case .forwarding = reading { return true }
        return false
    }

    /// What to do at a request's end.
    enum EndAction {
        /// Pass the end on down the pipeline.
        case forward
        /// Answer this request now, with this connection reuse.
        case serve(Request, keepAlive: ConnectionReuse)
        /// Kept in the backlog behind the waiting poll; nothing to do now.
        case queued
        /// The client pipelined more than ``maximumBacklog`` requests: close.
        case close
        /// An end without a head (cannot happen with NIO's decoder): nothing.
        case none
    }

    mutating func endReceived() -> EndAction {
        let ended = reading
        reading = .idle
        switch ended {
        case .idle: return .none
        case .forwarding: return .forward
        case .request(let request):
            guard waiting != nil else { return .serve(request, keepAlive: reuse(request.keepAlive)) }
            // Answering out of order is not allowed and buffering without end is
            // not an option: a client this far ahead of its answers loses the connection.
            guard backlog.count < Self.maximumBacklog else { return .close }
            backlog.append(request)
            return .queued
        }
    }

    // MARK: The waiting poll

    /// The request just served is a poll that waits; its answer comes later.
    mutating func pollWaits(token: PollToken, endpoint: GPollEndpoint, keepAlive: ConnectionReuse) {
        precondition(waiting == nil, "a connection has at most one waiting poll")
        waiting = WaitingPoll(token: token, endpoint: endpoint, keepAlive: keepAlive)
    }

    /// What to do with an answer for poll `token`.
    enum AnswerAction {
        /// Write the answer, with this connection reuse, then call ``nextAction()``.
        case answer(WaitingPoll, keepAlive: ConnectionReuse)
        /// Not this connection's waiting poll (it ended already): a message must go back.
        case stale
    }

    mutating func pollAnswered(token: PollToken) -> AnswerAction {
        guard let waiting, waiting.token == token else { return .stale }
        self.waiting = nil
        let keepAlive = reuse(waiting.keepAlive)
        // The answer closes the connection: what the client pipelined behind it is never answered.
        if keepAlive == .close { backlog.removeAll() }
        return .answer(waiting, keepAlive: keepAlive)
    }

    /// The connection ended (closed, failed, or its handler removed): the waiting
    /// poll, if any, must be withdrawn so that it takes no message.
    mutating func connectionEnded() -> WaitingPoll? {
        let waiting = self.waiting
        self.waiting = nil
        backlog.removeAll()
        return waiting
    }

    // MARK: Between answers

    /// What to do once an answer is written and nothing waits.
    enum NextAction {
        /// Serve the oldest pipelined request, then ask again.
        case serve(Request, keepAlive: ConnectionReuse)
        /// Quiescing and nothing is left: close the connection.
        case close
        /// Nothing (a poll waits, or the connection stays open for more requests).
        case none
    }

    /// After any answer: the next pipelined request, or close when quiesced.
    mutating func nextAction() -> NextAction {
        guard waiting == nil else { return .none }
        if !backlog.isEmpty {
            let next = backlog.removeFirst()
            return .serve(next, keepAlive: reuse(next.keepAlive))
        }
        if isQuiescing, case .idle = reading { return .close }
        return .none
    }

    /// The server shuts down. Closes at once if nothing is in flight; a waiting
    /// poll is answered 204 by the endpoint's shutdown, and that answer closes.
    mutating func quiesce() -> NextAction {
        isQuiescing = true
        return nextAction()
    }

    /// While quiescing every answer closes its connection.
    private func reuse(_ keepAlive: ConnectionReuse) -> ConnectionReuse {
        isQuiescing ? .close : keepAlive
    }
}

extension ConnectionStateMachine.Request {
    var keepAlive: ConnectionReuse {
        switch self {
        case .gpoll(_, _, let keepAlive), .reject(_, let keepAlive): return keepAlive
        }
    }
}
