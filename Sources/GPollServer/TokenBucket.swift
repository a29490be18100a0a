import GPollCore

/// A token bucket: up to `capacity` actions at once, then `refillPerSecond` on
/// average. Pure logic: every call is told the time, so tests step it exactly.
/// The demo's publish route spends one token per message.
struct TokenBucket: Sendable {
    let capacity: Double
    let refillPerSecond: Double
    private var tokens: Double
    private var updated: GPollInstant

    /// Starts full at `now`. `capacity` ≥ 1 and `refillPerSecond` > 0 (checked by the configuration).
    init(capacity: Int, refillPerSecond: Double, now: GPollInstant) {
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
        self.tokens = Double(capacity)
        self.updated = now
    }

    enum Outcome: Equatable {
        case granted
        /// Not now; a token is there again after this many whole seconds (at least 1, for `Retry-After`).
        case refused(retryAfterSeconds: Int)
    }

    /// Takes one token if there is one.
    mutating func take(at now: GPollInstant) -> Outcome {
        if now > updated {
            let elapsed = Double((now - updated).wholeNanoseconds) / 1e9
            tokens = min(capacity, tokens + elapsed * refillPerSecond)
            updated = now
        }
        if tokens >= 1 {
            tokens -= 1
            return .granted
        }
        let wait = (1 - tokens) / refillPerSecond
        return .refused(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
    }
}
