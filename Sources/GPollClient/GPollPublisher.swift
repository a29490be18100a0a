import AsyncHTTPClient
import NIOCore

/// Publishes through a harness publish URL (Spec section 16.1): the raw request
/// body of a `POST` is one message. The reference server's is its admin
/// listener's `/publish`, such as `http://127.0.0.1:8081/publish`.
///
/// Publishing is not part of the gpoll protocol; this is for scripts, demos and tests.
public struct GPollPublisher: Sendable {
    /// The publish URL.
    public let url: String
    /// Extra request headers, such as `Authorization`.
    public var headers: [(name: String, value: String)]
    /// How long a publish may take; the reference server answers once every client was offered the message.
    public var deadline: Duration

    private let http: HTTPClient

    /// A publisher that sends with `httpClient` (which you shut down when done).
    public init(url: String, headers: [(name: String, value: String)] = [], deadline: Duration = .seconds(30), httpClient: HTTPClient) {
        self.url = url
        self.headers = headers
        self.deadline = deadline
        self.http = httpClient
    }

    /// Publishes `message`; returns the publish URL's answer, a 2xx.
    public func publish(_ message: [UInt8]) async throws(GPollPublishError) -> HTTPStatusLine {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: message))
        let status: HTTPStatusLine
        let body: ByteBuffer
        do {
            let response = try await http.execute(request, deadline: .now() + .nanoseconds(deadline.nanosecondsValue))
            status = HTTPStatusLine(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase)
            body = try await response.body.collect(upTo: 4096)
        } catch {
            switch TransportFailure.outcome(of: error) {
            case nil: throw .cancelled
            case .unreachable(let detail)?: throw .unreachable(detail)
            case .tlsFailure(let detail)?: throw .tlsFailure(detail)
            case .timedOut?: throw .timedOut
            case .tooLarge?: throw .refused(HTTPStatusLine(code: 0, reasonPhrase: ""), body: "the answer's body was too large")
            case .connectionLost(let detail)?: throw .connectionLost(detail)
            case .response?: throw .connectionLost("\(error)")  // not an outcome of a thrown error
            }
        }
        guard (200..<300).contains(status.code) else {
            throw .refused(status, body: String(decoding: body.readableBytesView.prefix(200), as: UTF8.self))
        }
        return status
    }
}

/// Why a publish failed.
public enum GPollPublishError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection could be made.
    case unreachable(String)
    /// The TLS handshake failed (often: the certificate is not trusted).
    case tlsFailure(String)
    /// The connection was lost before the answer.
    case connectionLost(String)
    /// No answer within the deadline.
    case timedOut
    /// The publish URL answered with a status that is not 2xx; the start of its body is given.
    case refused(HTTPStatusLine, body: String)
    /// The task was cancelled.
    case cancelled

    /// What went wrong, in words.
    public var description: String {
        switch self {
        case .unreachable(let detail): return "unreachable: \(detail)"
        case .tlsFailure(let detail): return "TLS failure: \(detail)"
        case .connectionLost(let detail): return "connection lost: \(detail)"
        case .timedOut: return "no answer in time"
        case .refused(let status, let body): return "answered \(status)\(body.isEmpty ? "" : ": \(body)")"
        case .cancelled: return "cancelled"
        }
    }
}
