import AsyncHTTPClient
import Foundation
import GPollCore
import NIOCore
import NIOSSL
import Synchronization

/// A client of a gpoll/1.1 endpoint (Spec section 19), on async-http-client.
///
/// ```swift
/// let client = try GPollClient(endpoint: "https://example.com/poll")
/// for try await event in client.events() {
///     switch event {
///     case .message(let message): print(message.text ?? "\(message.bytes.count) bytes")
///     case .registeredAgain(_, let cause): print("messages may have been missed: \(cause)")
///     case .registered, .backingOff: break
///     }
/// }
/// await client.close()
/// ```
///
/// Each iteration of ``events()`` registers its own id (CL-10) and follows the
/// Spec's client algorithm: one poll in flight (CL-9), a request deadline above T
/// (CL-15), 204 polls again, 404 registers again and says so, `Retry-After` is
/// honoured, failures back off with jitter, and acknowledged delivery is used when
/// the server offers it, so that a lost answer is re-sent, never lost or duplicated.
///
/// The sequence applies back-pressure: the next poll is sent only when the
/// application asks for the next event, so nothing is buffered, and a message is
/// acknowledged only after the application has received it. Ending the task that
/// iterates, or calling ``close()``, ends the sequence without an error.
public final class GPollClient: Sendable {
    /// The endpoint URL, as given.
    public let endpointURL: String
    /// The settings in force.
    public let configuration: GPollClientConfiguration

    private let endpoint: Endpoint
    private let http: HTTPClient
    private let ownsHTTPClient: Bool
    private let operations = Mutex(Operations())

    /// The requests and waits in progress, so that ``close()`` can end them.
    private struct Operations {
        var closed = false
        var nextToken = 0
        var cancellers: [Int: @Sendable () -> Void] = [:]
    }

    /// Creates a client of the endpoint at `endpoint` (an `http` or `https` URL, such
    /// as `http://127.0.0.1:8080/poll`; its own query items are kept).
    ///
    /// - Parameter httpClient: the HTTP client to use; nil creates one, which
    ///   ``close()`` shuts down. One you pass must not follow redirects (CL-18) and
    ///   should not retry connections itself: configure it with
    ///   ``httpClientConfiguration(tls:)``. You shut it down, after ``close()``.
    public init(endpoint: String, configuration: GPollClientConfiguration = .init(), httpClient: HTTPClient? = nil) throws(GPollClientError) {
        let problems = configuration.problems
        guard problems.isEmpty else { throw .invalidConfiguration(problems) }
        self.endpoint = try Endpoint(endpoint)
        self.endpointURL = endpoint
        self.configuration = configuration
        if let httpClient {
            http = httpClient
            ownsHTTPClient = false
        } else {
            http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                              configuration: Self.httpClientConfiguration(tls: configuration.tlsConfiguration))
            ownsHTTPClient = true
        }
    }

    /// The HTTP client configuration a gpoll client needs: redirects are not followed
    /// (CL-18), a failed connection is not retried behind the client's back (its own
    /// backoff decides, CL-16), bodies are not decompressed (messages are bytes, CL-8).
    public static func httpClientConfiguration(tls: TLSConfiguration? = nil) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10)),
            decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// The events of one registration, for as long as the application iterates.
    public func events() -> Events {
        Events(client: self)
    }

    /// Stops every iteration of ``events()``: a request in flight is cancelled (its
    /// connection closed), a wait ends, and each sequence ends without an error.
    /// Shuts down the HTTP client if this client created it. Calling it again does nothing.
    public func close() async {
        let cancellers = operations.withLock { operations -> [@Sendable () -> Void]? in
            guard !operations.closed else { return nil }
            operations.closed = true
            defer { operations.cancellers = [:] }
            return Array(operations.cancellers.values)
        }
        guard let cancellers else { return }
        for cancel in cancellers { cancel() }
        if ownsHTTPClient { try? await http.shutdown() }
    }

    /// A client dropped without ``close()`` still shuts down the HTTP client it created
    /// (async-http-client requires a shutdown before its deinit).
    deinit {
        if ownsHTTPClient, !isClosed { http.shutdown(queue: .global()) { _ in } }
    }

    var isClosed: Bool { operations.withLock { $0.closed } }

    /// Runs `body` so that ``close()`` and the caller's cancellation can both end it; nil when the client is closed.
    private func cancellable<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T? {
        let task = Task { await body() }
        let token = operations.withLock { operations -> Int? in
            guard !operations.closed else { return nil }
            let token = operations.nextToken
            operations.nextToken += 1
            operations.cancellers[token] = { task.cancel() }
            return token
        }
        guard let token else {
            task.cancel()
            return nil
        }
        defer { _ = operations.withLock { $0.cancellers.removeValue(forKey: token) } }
        return await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
    }

    /// Sends one request and reads the whole answer, within `deadline`.
    func perform(_ request: ClientStateMachine.Request, deadline: Duration) async -> ClientStateMachine.Outcome? {
        let url = endpoint.url(for: request)
        let headers = configuration.headers
        let limit = configuration.maximumMessageBytes
        let http = self.http
        return await cancellable { () async -> ClientStateMachine.Outcome? in
            var httpRequest = HTTPClientRequest(url: url)
            httpRequest.method = .GET  // CL-1
            for header in headers { httpRequest.headers.add(name: header.name, value: header.value) }
            let start = ContinuousClock.now
            do {
                let response = try await http.execute(httpRequest, deadline: .now() + .nanoseconds(deadline.nanosecondsValue))
                let body = try await response.body.collect(upTo: limit)
                return .response(ClientStateMachine.Response(
                    status: HTTPStatusLine(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                    retryAfter: response.headers.first(name: "Retry-After").flatMap { RetryAfter.delay($0) },
                    sequence: response.headers.first(name: GPollHeaderName.sequence),
                    reason: response.headers.first(name: GPollHeaderName.reason),
                    body: Array(buffer: body),
                    elapsed: start.duration(to: .now)))
            } catch {
                return TransportFailure.outcome(of: error)
            }
        } ?? nil
    }

    /// Waits, unless the client is closed or the caller cancelled first; false then.
    func sleep(for duration: Duration) async -> Bool {
        let slept = await cancellable { () async -> Bool in
            (try? await Task.sleep(for: duration)) != nil
        }
        return slept == true
    }

    /// The event sequence of one registration. See ``GPollClient``.
    public struct Events: AsyncSequence, Sendable {
        /// What the sequence yields.
        public typealias Element = GPollEvent
        /// Why the sequence can end with an error: ``GPollClientError``.
        public typealias Failure = any Error

        let client: GPollClient

        /// Starts a registration: the first call to `next()` sends the handshake.
        public func makeAsyncIterator() -> Iterator {
            Iterator(client: client)
        }

        /// Runs the client algorithm, one step per call, on the caller's task.
        public struct Iterator: AsyncIteratorProtocol {
            let client: GPollClient
            private var machine: ClientStateMachine
            private var finished = false

            init(client: GPollClient) {
                self.client = client
                machine = ClientStateMachine(configuration: client.configuration)
            }

            /// The next event; nil once the client is closed or the task cancelled.
            /// Throws ``GPollClientError`` when the client gave up or a message was too large.
            public mutating func next() async throws -> GPollEvent? {
                try await next(isolation: nil)
            }

            /// The next event; nil once the client is closed or the task cancelled.
            public mutating func next(isolation actor: isolated (any Actor)?) async throws -> GPollEvent? {
                steps: while !finished, !client.isClosed, !Task.isCancelled {
                    switch machine.step {
                    case .send(let request, let deadline):
                        guard let outcome = await client.perform(request, deadline: deadline) else { break steps }
                        if let event = machine.handle(outcome) { return event }
                    case .wait(let duration):
                        guard await client.sleep(for: duration) else { break steps }
                        machine.waited()
                    case .fail(let error):
                        finished = true
                        throw error
                    }
                }
                finished = true
                return nil
            }
        }
    }
}

extension Duration {
    /// This duration in whole nanoseconds (saturating), for NIO's `TimeAmount`.
    var nanosecondsValue: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
