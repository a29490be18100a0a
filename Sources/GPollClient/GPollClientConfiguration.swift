import NIOSSL

/// How a ``GPollClient`` behaves where the Spec leaves it a choice.
///
/// The defaults are the Spec's (section 19.3): a backoff of base 1 s and cap 60 s,
/// a poll deadline of T + 5 s (60 s while T is unknown or 0), `Retry-After` capped
/// at 600 s, acknowledged delivery whenever the server offers it.
public struct GPollClientConfiguration: Sendable {
    /// The jittered exponential backoff of CL-16: the n-th consecutive delay is a
    /// uniformly random time between 0 and min(cap, base × 2^(n−1)).
    public struct Backoff: Sendable, Hashable {
        /// The first delay's ceiling; the Spec allows 0.1 s to 1 s.
        public var base: Duration
        /// The largest ceiling; the Spec allows 10 s to 300 s.
        public var cap: Duration

        /// Creates a backoff; ``GPollClientConfiguration/problems`` says when it is outside the Spec's bounds.
        public init(base: Duration = .seconds(1), cap: Duration = .seconds(60)) {
            self.base = base
            self.cap = cap
        }

        /// The ceiling of the n-th consecutive delay (n from 1).
        public func ceiling(forFailure n: Int) -> Duration {
            // 2^(n−1) overflows nothing: past the cap the doubling no longer matters.
            var ceiling = base
            for _ in 1..<max(n, 1) {
                ceiling *= 2
                if ceiling >= cap { return cap }
            }
            return min(ceiling, cap)
        }
    }

    /// The backoff after failures.
    public var backoff = Backoff()
    /// T when the handshake does not advertise `poll-timeout`: nil (unknown) unless
    /// the deployment is known. An advertised value always wins (CL-21).
    public var pollTimeout: Duration? = nil
    /// Added to a known T (not 0) for a poll's request deadline; at least 5 s (CL-15).
    public var pollDeadlineMargin: Duration = .seconds(5)
    /// A poll's request deadline while T is unknown or 0; at least 60 s (CL-26).
    public var unknownTimeoutPollDeadline: Duration = .seconds(60)
    /// A handshake's request deadline; when it passes, the handshake counts as a lost connection.
    public var handshakeDeadline: Duration = .seconds(60)
    /// The longest wait a `Retry-After` can impose (CL-17 allows capping at 600 s).
    public var maximumRetryAfter: Duration = .seconds(600)
    /// Use acknowledged delivery (Spec section 18) when the server offers `ack`.
    public var usesAcknowledgedDelivery = true
    /// The largest message the client accepts; a larger one ends the event
    /// sequence with ``GPollClientError/messageTooLarge(limit:)``.
    public var maximumMessageBytes = 16 * 1024 * 1024
    /// End the event sequence with ``GPollClientError/gaveUp(failures:last:)`` once this
    /// many failures happen in a row; nil (the Spec's algorithm): never give up.
    public var maximumConsecutiveFailures: Int? = nil
    /// Extra request headers, such as `Authorization`, sent on every handshake and poll.
    public var headers: [(name: String, value: String)] = []
    /// TLS for an `https` endpoint when the client creates its own HTTP client
    /// (for example with the trust roots of a private CA); nil: the system's defaults.
    public var tlsConfiguration: TLSConfiguration? = nil

    /// The Spec's defaults.
    public init() {}

    /// Every way these settings break the Spec's bounds, in words; empty when they are fine.
    public var problems: [String] {
        var problems: [String] = []
        if backoff.base < .milliseconds(100) || backoff.base > .seconds(1) {
            problems.append("the backoff base must be between 0.1 s and 1 s (CL-16), got \(backoff.base)")
        }
        if backoff.cap < .seconds(10) || backoff.cap > .seconds(300) {
            problems.append("the backoff cap must be between 10 s and 300 s (CL-16), got \(backoff.cap)")
        }
        if let pollTimeout, pollTimeout < .zero { problems.append("the poll timeout must not be negative, got \(pollTimeout)") }
        if pollDeadlineMargin < .seconds(5) {
            problems.append("a poll's deadline must be at least T + 5 s (CL-15), got a margin of \(pollDeadlineMargin)")
        }
        if unknownTimeoutPollDeadline < .seconds(60) {
            problems.append("without a known T a poll's deadline must be at least 60 s (CL-26), got \(unknownTimeoutPollDeadline)")
        }
        if handshakeDeadline <= .zero { problems.append("the handshake deadline must be positive, got \(handshakeDeadline)") }
        if maximumRetryAfter < .zero { problems.append("the Retry-After cap must not be negative") }
        if maximumMessageBytes < 0 { problems.append("the message size limit must not be negative") }
        if let maximumConsecutiveFailures, maximumConsecutiveFailures < 1 {
            problems.append("the failure limit must be at least 1, got \(maximumConsecutiveFailures)")
        }
        return problems
    }
}
