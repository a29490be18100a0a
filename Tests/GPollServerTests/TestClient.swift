import Foundation
import GPollWire
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One complete HTTP response as the test client saw it, in NIO's types so that
/// tests compare statuses and headers the way the server writes them.
struct TestResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    init(_ response: WireResponse) {
        status = HTTPResponseStatus(statusCode: response.status, reasonPhrase: response.reason)
        headers = HTTPHeaders(response.headers)
        body = response.body
    }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
    static let timedOut = TestClientError(description: "timed out waiting for a response")
    static let closed = TestClientError(description: "the connection closed before the response was complete")
}

/// A response still to come: a poll that waits, while the test does something else.
struct PendingResponse: Sendable {
    fileprivate let task: Task<TestResponse, any Error>

    func get() async throws -> TestResponse { try await task.value }
}

/// The server tests' connection: GPollWire's raw HTTP/1.1 connection (any request
/// target, raw bytes, pipelining, FIN or RST) with requests that return at once
/// and responses awaited later, in request order.
final class TestConnection: Sendable {
    /// Plain connections share one client on NIO's singleton event loop group.
    private static let plainClient = Result { try WireClient(group: MultiThreadedEventLoopGroup.singleton) }

    let wire: WireConnection
    /// The last write and the last read queued: each waits for the one before, so that
    /// bytes go out and responses are handed out in the order the test asked.
    private let queue = Mutex<(write: Task<Void, any Error>?, read: Task<Void, Never>?)>((nil, nil))

    private init(wire: WireConnection) {
        self.wire = wire
    }

    /// Connects to 127.0.0.1 (`localhost` with TLS, the name the test certificate is for).
    static func connect(port: Int, tls: WireClient? = nil) async throws -> TestConnection {
        let client = try tls ?? plainClient.get()
        let endpoint = try Endpoint("\(tls == nil ? "http" : "https")://\(tls == nil ? "127.0.0.1" : "localhost"):\(port)/")
        let wire = try await client.connect(to: endpoint, transcript: nil, connectTimeout: .seconds(10), interimResponses: true)
        return TestConnection(wire: wire)
    }

    /// Sends a request and returns the response to come without waiting for it (for polls that wait).
    func send(
        _ target: String,
        method: HTTPMethod = .GET,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(10)
    ) -> PendingResponse {
        // A body, even an empty one, is announced; no body, no Content-Length.
        let fields = headers + (body.map { [("Content-Length", String($0.count))] } ?? [])
        let request = WireRequest(method: method.rawValue, target: target, headers: fields, body: body ?? [])
        return enqueue(responses: 1, timeout: timeout) { try await $0.send(request) }[0]
    }

    func request(
        _ target: String,
        method: HTTPMethod = .GET,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(10)
    ) async throws -> TestResponse {
        try await send(target, method: method, body: body, headers: headers, timeout: timeout).get()
    }

    /// Writes raw bytes and awaits `responses` responses (a 1xx counts as one).
    func sendRaw(_ bytes: [UInt8], responses: Int = 1, timeout: TimeAmount = .seconds(10)) -> [PendingResponse] {
        enqueue(responses: responses, timeout: timeout) { try await $0.sendRaw(bytes, responses: responses) }
    }

    private func enqueue(responses: Int, timeout: TimeAmount,
                         _ write: @escaping @Sendable (WireConnection) async throws -> Void) -> [PendingResponse] {
        let wire = self.wire
        let wait = Duration.nanoseconds(timeout.nanoseconds)
        return queue.withLock { queue in
            let previousWrite = queue.write
            let written = Task {
                _ = await previousWrite?.result
                try await write(wire)
            }
            queue.write = written
            var previousRead = queue.read
            var pending: [PendingResponse] = []
            for _ in 0..<responses {
                let before = previousRead
                let read = Task { () throws -> TestResponse in
                    await before?.value
                    try await written.value
                    switch await wire.nextQuietly(within: wait) {
                    case .response(let response): return TestResponse(response)
                    case .timedOut: throw TestClientError.timedOut
                    case .closed: throw TestClientError.closed
                    case .malformed(let why): throw TestClientError(description: "malformed response: \(why)")
                    }
                }
                pending.append(PendingResponse(task: read))
                previousRead = Task { _ = await read.result }
            }
            queue.read = previousRead
            return pending
        }
    }

    /// Closes with FIN.
    func close() async {
        await wire.close()
    }

    /// Aborts with RST.
    func reset() async {
        await wire.abortWithReset()
    }

    /// Resolves when the connection closed (or after the timeout, with false).
    func waitForClose(timeout: TimeAmount = .seconds(5)) async -> Bool {
        await wire.waitForClose(within: .nanoseconds(timeout.nanoseconds))
    }
}
