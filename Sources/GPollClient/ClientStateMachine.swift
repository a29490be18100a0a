import GPollCore

/// The Spec's client algorithm (section 19.3, the states of 19.4) as a value: no I/O
/// and no clock. The driver asks for ``step``, performs it (a request, or a wait), and
/// hands the outcome back; each outcome moves the state and may give one event for
/// the application. Every rule cites its requirement.
struct ClientStateMachine {
    /// A request the driver is to send.
    enum Request: Equatable {
        /// `client-id=0` (CL-3).
        case handshake
        /// `client-id=<id>`, with `ack=<n>` under acknowledged delivery (CL-22).
        case poll(id: String, ack: UInt64?)
    }

    /// What the driver does next.
    enum Step: Equatable {
        /// Send this request, giving up on it after this long (CL-15, CL-26).
        case send(Request, deadline: Duration)
        /// Send nothing for this long (a backoff, CL-16, or a `Retry-After`, CL-17), then call ``waited()``.
        case wait(Duration)
        /// End the event sequence with this error.
        case fail(GPollClientError)
    }

    /// An answer as the machine needs it: the status, the three headers it reads, the body.
    struct Response {
        var status: HTTPStatusLine
        /// `Retry-After`, already read as a delay (delay-seconds or an HTTP-date); nil when absent or unreadable.
        var retryAfter: Duration?
        /// `GPoll-Sequence`, as sent.
        var sequence: String?
        /// `GPoll-Reason`, as sent.
        var reason: String?
        var body: [UInt8]
        /// From sending the request to receiving the whole answer, to tell an early 204.
        var elapsed: Duration

        /// 429 or 503 with a readable `Retry-After` (CL-17).
        var asksToRetryLater: Bool { (status.code == 429 || status.code == 503) && retryAfter != nil }
    }

    /// How a request ended.
    enum Outcome {
        case response(Response)
        /// No connection could be made: refused, no such host, connect timeout.
        case unreachable(String)
        /// The TLS handshake failed.
        case tlsFailure(String)
        /// The connection was lost before the whole answer arrived.
        case connectionLost(String)
        /// The request's deadline passed; the driver has closed that connection.
        case timedOut
        /// The body was larger than the configured limit.
        case tooLarge
    }

    private enum Phase {
        case registering
        case polling(id: String)
    }

    let configuration: GPollClientConfiguration
    private var random: any RandomNumberGenerator

    private(set) var step: Step
    /// What follows the current wait.
    private var afterWait: Step?
    private var phase = Phase.registering
    /// Consecutive failures: the n of the backoff (CL-16).
    private var failures = 0
    /// Consecutive polls lost with their connection (CL-20).
    private var lostPolls = 0
    /// Consecutive early 204s (CL-12).
    private var early204s = 0
    /// True until the first poll of a new id is answered: a 404 then is a failure (section 19.2).
    private var freshID = false
    /// Why the client is registering again; nil on the first registration.
    private var gap: GPollReregistrationCause?
    private var hadID = false
    /// T as far as the client knows it: advertised, else configured, else nil (unknown).
    private var pollTimeout: Duration?
    private var usesAck = false
    /// The highest `GPoll-Sequence` received for the current id (CL-22).
    private var acknowledged: UInt64 = 0

    init(configuration: GPollClientConfiguration, random: some RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.configuration = configuration
        self.random = random
        step = .send(.handshake, deadline: configuration.handshakeDeadline)
    }

    /// The wait of ``Step/wait(_:)`` is over.
    mutating func waited() {
        guard case .wait = step, let next = afterWait else { return }
        step = next
        afterWait = nil
    }

    /// The outcome of the request of ``step``; returns what to tell the application, if anything.
    mutating func handle(_ outcome: Outcome) -> GPollEvent? {
        switch phase {
        case .registering: return handleHandshake(outcome)
        case .polling(let id): return handlePoll(outcome, id: id)
        }
    }

    // MARK: Registering

    private var handshake: Step { .send(.handshake, deadline: configuration.handshakeDeadline) }

    private mutating func handleHandshake(_ outcome: Outcome) -> GPollEvent? {
        switch outcome {
        case .response(let response):
            if response.asksToRetryLater { return retryAfter(response, then: handshake) }
            switch response.status.code {
            case 200:
                switch Self.readHandshakeAnswer(response.body) {
                case .success(let id): return register(id: id, body: response.body)
                case .failure(let problem): return backOff(.notAHandshakeAnswer(problem.description), then: handshake)
                }
            case 404:
                return backOff(.notFound(request: .handshake), then: handshake)
            default:
                return backOff(.status(response.status, request: .handshake), then: handshake)
            }
        case .unreachable(let detail): return backOff(.unreachable(detail), then: handshake)
        case .tlsFailure(let detail): return backOff(.tlsFailure(detail), then: handshake)
        case .connectionLost(let detail): return backOff(.connectionLost(detail), then: handshake)
        case .timedOut: return backOff(.connectionLost("no answer to the handshake within \(configuration.handshakeDeadline)"), then: handshake)
        case .tooLarge:
            return backOff(.notAHandshakeAnswer("the body is larger than \(configuration.maximumMessageBytes) bytes"), then: handshake)
        }
    }

    /// CL-4: a JSON object with exactly one member `client-id`, a string of 10 bytes or
    /// more, whatever the order, whitespace and other members. GPollCore reads the JSON.
    static func readHandshakeAnswer(_ body: [UInt8]) -> Result<String, HandshakeProblem> {
        switch HandshakeBody.decodeClientIDText(body) {
        case .failure(let error):
            return .failure(HandshakeProblem(description: "\(error)"))
        case .success where TopLevelMembers.names(in: body).filter({ $0 == "client-id" }).count > 1:
            return .failure(HandshakeProblem(description: "the object has more than one member \"client-id\""))
        case .success(let id) where id.utf8.count < 10:
            return .failure(HandshakeProblem(description: "the client-id \"\(id.count <= 3 ? id : "…")\" is shorter than 10 bytes"))
        case .success(let id):
            return .success(id)
        }
    }

    struct HandshakeProblem: Error, CustomStringConvertible {
        var description: String
    }

    private mutating func register(id: String, body: [UInt8]) -> GPollEvent? {
        // CL-21: T and the extensions from what the server advertised; unknown members are ignored (CL-4).
        let settings = AdvertisedSettings.decode(body).settings
        pollTimeout = settings.pollTimeoutSeconds.map { Duration.seconds($0) } ?? configuration.pollTimeout
        usesAck = configuration.usesAcknowledgedDelivery && settings.offersAck
        acknowledged = 0  // CL-24: sequence numbers belong to one id
        let registration = GPollRegistration(id: id, settings: settings, usesAcknowledgedDelivery: usesAck)
        let event: GPollEvent = hadID
            ? .registeredAgain(registration, cause: gap ?? .notFound(reason: nil))  // CL-14
            : .registered(registration)
        hadID = true
        gap = nil
        failures = 0
        lostPolls = 0
        early204s = 0
        freshID = true
        phase = .polling(id: id)
        step = poll(id)
        return event
    }

    // MARK: Polling

    private func poll(_ id: String) -> Step {
        .send(.poll(id: id, ack: usesAck ? acknowledged : nil), deadline: pollDeadline)
    }

    /// CL-15: at least T + 5 s when T is known and not 0; CL-26: 60 s or more otherwise.
    var pollDeadline: Duration {
        if let pollTimeout, pollTimeout > .zero { return pollTimeout + configuration.pollDeadlineMargin }
        return configuration.unknownTimeoutPollDeadline
    }

    private mutating func handlePoll(_ outcome: Outcome, id: String) -> GPollEvent? {
        switch outcome {
        case .response(let response):
            return handlePollAnswer(response, id: id)
        case .timedOut:
            // A request timeout is not a failure: the connection is closed, poll again at once (CL-15, CL-26).
            step = poll(id)
            return nil
        case .connectionLost(let detail):
            // CL-20: the first lost poll is repeated at once, the next ones after a backoff.
            lostPolls += 1
            if lostPolls >= 2 { return backOff(.connectionLost(detail), then: poll(id)) }
            step = poll(id)
            return nil
        case .unreachable(let detail):
            return backOff(.unreachable(detail), then: poll(id))
        case .tlsFailure(let detail):
            return backOff(.tlsFailure(detail), then: poll(id))
        case .tooLarge:
            step = .fail(.messageTooLarge(limit: configuration.maximumMessageBytes))
            return nil
        }
    }

    private mutating func handlePollAnswer(_ response: Response, id: String) -> GPollEvent? {
        if response.asksToRetryLater { return retryAfter(response, then: poll(id)) }
        switch response.status.code {
        case 200:
            // Every 200 body is a message, the empty one included (CL-8); poll again at once (CL-11).
            resetAfterAnswer()
            defer { step = poll(id) }  // with the ack state this answer leaves
            guard usesAck else { return .message(GPollMessage(bytes: response.body)) }
            guard let sequence = response.sequence.flatMap(UInt64.init) else {
                // CL-23: no sequence, no acknowledged delivery on this server: plain polls from now on.
                usesAck = false
                return .message(GPollMessage(bytes: response.body))
            }
            // CL-23: a sequence not above the highest received is a re-send already delivered.
            guard sequence > acknowledged else { return nil }
            // The next poll says ack=<sequence>; it goes out when the application asks for more.
            acknowledged = sequence
            return .message(GPollMessage(bytes: response.body, sequence: sequence))
        case 204:
            let wasEarly = isEarly(response.elapsed)
            resetAfterAnswer()
            if wasEarly {
                // CL-12: the first early 204 is polled again at once, the second in a row means another poller holds the id.
                early204s += 1
                if early204s >= 2 { return registerAgain(because: .idHeldElsewhere) }
            } else {
                early204s = 0
            }
            step = poll(id)
            return nil
        case 404:
            // CL-13: register again, never poll the old id again.
            let cause = GPollReregistrationCause.notFound(reason: response.reason.flatMap(GPollReason.init(rawValue:)))
            if freshID {
                // A 404 to the first poll of an id just issued: a misrouting deployment; back off (section 19.2).
                gap = cause
                phase = .registering
                return backOff(.notFound(request: .poll), then: handshake)
            }
            return registerAgain(because: cause)
        case 300..<400, 429, 500..<600:
            return backOff(.status(response.status, request: .poll), then: poll(id))
        case 400..<500:
            // CL-19: back off, then register again rather than poll that id again.
            gap = .pollRefused(status: response.status.code)
            phase = .registering
            return backOff(.status(response.status, request: .poll), then: handshake)
        default:
            // Another status is not an answer to a poll: a failure (CL-16).
            return backOff(.status(response.status, request: .poll), then: poll(id))
        }
    }

    /// An early 204: sooner than T − 1 s when T is known, within 1 s when it is not
    /// (Spec section 2). With T known to be 0 no poll ever times out, so every 204 is early.
    private func isEarly(_ elapsed: Duration) -> Bool {
        switch pollTimeout {
        case nil: return elapsed < .seconds(1)
        case .zero?: return true
        case let timeout?: return elapsed < timeout - .seconds(1)
        }
    }

    private mutating func resetAfterAnswer() {
        failures = 0  // CL-16: n is reset after a successful answer
        lostPolls = 0
        freshID = false
    }

    private mutating func registerAgain(because cause: GPollReregistrationCause) -> GPollEvent? {
        gap = cause
        phase = .registering
        early204s = 0
        step = handshake
        return nil
    }

    // MARK: Waiting

    /// CL-16: the n-th consecutive delay is uniform in [0, min(cap, base × 2^(n−1))].
    private mutating func backOff(_ reason: GPollBackoffReason, then next: Step) -> GPollEvent? {
        failures += 1
        if let limit = configuration.maximumConsecutiveFailures, failures >= limit {
            step = .fail(.gaveUp(failures: failures, last: reason))
            return nil
        }
        let ceiling = configuration.backoff.ceiling(forFailure: failures)
        let delay = Duration.seconds(Double.random(in: 0...1, using: &random) * ceiling.secondsValue)
        return wait(delay, then: next, reason: reason)
    }

    /// CL-17: no request before the `Retry-After` delay has passed, capped at 600 s.
    private mutating func retryAfter(_ response: Response, then next: Step) -> GPollEvent? {
        let delay = min(response.retryAfter ?? .zero, configuration.maximumRetryAfter)
        return wait(delay, then: next, reason: .retryAfter(response.status))
    }

    private mutating func wait(_ delay: Duration, then next: Step, reason: GPollBackoffReason) -> GPollEvent? {
        step = .wait(delay)
        afterWait = next
        return .backingOff(reason: reason, duration: delay)
    }
}

extension Duration {
    /// This duration in seconds, as a `Double`.
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
