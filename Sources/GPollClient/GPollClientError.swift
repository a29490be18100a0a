/// Why a ``GPollClient`` could not be made, or why its event sequence ended with an error.
///
/// A sequence that ends because the application stopped it (task cancellation or
/// ``GPollClient/close()``) ends without an error.
public enum GPollClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The endpoint is not an absolute `http` or `https` URL with a host.
    case invalidEndpoint(String)
    /// The configuration breaks the Spec's bounds; each string says how.
    case invalidConfiguration([String])
    /// ``GPollClientConfiguration/maximumConsecutiveFailures`` failures happened in a row; the last one is given.
    case gaveUp(failures: Int, last: GPollBackoffReason)
    /// A message (or handshake answer) was larger than ``GPollClientConfiguration/maximumMessageBytes``.
    case messageTooLarge(limit: Int)

    /// What went wrong, in words.
    public var description: String {
        switch self {
        case .invalidEndpoint(let url): return "not an http or https URL with a host: \(url)"
        case .invalidConfiguration(let problems): return problems.joined(separator: "; ")
        case .gaveUp(let failures, let last): return "gave up after \(failures) failures in a row; the last: \(last)"
        case .messageTooLarge(let limit): return "a message was larger than the limit of \(limit) bytes"
        }
    }
}
