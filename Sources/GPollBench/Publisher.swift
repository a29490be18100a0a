import GPollWire
import NIOCore

/// Publishes the bench's messages over one keep-alive connection to the publish
/// URL (GPollWire's), pipelining requests: each publish is written as soon as it
/// is due, stamped with its send time just before the write, and its answer read
/// in order by ``nextStatus(within:)`` or ``readyStatus()``.
final class Publisher: Sendable {
    /// Why the publisher can go on no longer: the connection failed or the server
    /// did not answer in time.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let connection: WireConnection
    private let target: [UInt8]
    private let headers: [(String, String)]
    private let template: ByteBuffer
    private let counters: RunCounters

    private init(connection: WireConnection, url: BenchURL, extraHeaders: [(String, String)], size: Int, counters: RunCounters) {
        self.connection = connection
        target = Array(url.target.utf8)
        headers = [("Host", url.hostHeader), ("Content-Type", "application/octet-stream"), ("Content-Length", String(size))]
            + extraHeaders
        template = MessageStamp.template(size: size)
        self.counters = counters
    }

    /// Connects to the publish URL. Nothing is recorded: a run publishes too many
    /// messages to keep a transcript of them.
    static func connect(url: BenchURL, client: WireClient, extraHeaders: [(String, String)], size: Int,
                        counters: RunCounters, timeout: TimeAmount) async throws -> Publisher {
        let endpoint = try Endpoint(url.description)
        let connection = try await client.connect(to: endpoint, transcript: nil, connectTimeout: timeout)
        return Publisher(connection: connection, url: url, extraHeaders: extraHeaders, size: size, counters: counters)
    }

    /// Writes the publish with sequence number `sequence`; its answer comes later.
    func publish(sequence: UInt64) async throws {
        var message = template
        MessageStamp(sequence: sequence, sentAtNanoseconds: NIODeadline.now().uptimeNanoseconds).write(into: &message)
        counters.publishesSent.wrappingAdd(1, ordering: .relaxed)
        try await connection.send(WireRequest(method: "POST", target: target, headers: headers, body: Array(message.readableBytesView)))
    }

    /// The status of the oldest unanswered publish, waiting up to `timeout` for it.
    func nextStatus(within timeout: Duration) async throws(Failure) -> Int {
        try Self.status(of: await connection.next(within: timeout), waited: timeout)
    }

    /// The status of the oldest unanswered publish if its answer is in; nil if not yet.
    func readyStatus() async throws(Failure) -> Int? {
        guard let event = await connection.takeReady() else { return nil }
        return try Self.status(of: event, waited: .zero)
    }

    func close() async {
        await connection.close()
    }

    private static func status(of event: WireEvent, waited: Duration) throws(Failure) -> Int {
        switch event {
        case .response(let response): return response.status
        case .timedOut: throw Failure(description: "no answer within \(waited)")
        case .closed: throw Failure(description: "the connection closed")
        case .malformed(let why): throw Failure(description: "a malformed answer (\(why))")
        }
    }
}
