import NIOCore
import NIOHTTP1

/// Where the admin listener hands a publish when the endpoint is not alone: a
/// cluster node (GPollCluster) writes the message to the shared bus and returns
/// once every live node has offered it to its clients. Without one, the admin
/// listener offers the message to the local endpoint itself.
///
/// The harness interface holds through it: the publish is answered 204 only
/// after ``publish(_:to:)`` returned, and 503 if it threw.
public protocol GPollAdminPublisher: Sendable {
    /// Returns once every client of every node serving `endpoint`, registered
    /// before the call, has been offered `message`.
    func publish(_ message: ByteBuffer, to endpoint: GPollEndpoint) async throws

    /// Whether publishes can go through now (a cluster node: its database is
    /// reachable). `/readyz` is 503 while not, so a balancer sends new clients elsewhere.
    var canPublish: Bool { get }
}

extension GPollAdminPublisher {
    public var canPublish: Bool { true }
}

extension GPollAdminHandler {
    /// Runs the publish off the event loop and answers on it. The admin listener
    /// has pipelining assistance, so no later request is read before this answer.
    func publish(
        _ message: ByteBuffer, to endpoint: GPollEndpoint, through publisher: any GPollAdminPublisher,
        keepAlive: ConnectionReuse, context: ChannelHandlerContext
    ) {
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        Task {
            let status: HTTPResponseStatus
            do {
                try await publisher.publish(message, to: endpoint)
                status = .noContent
            } catch {
                status = .serviceUnavailable
            }
            loop.execute {
                let context = bound.value
                guard context.channel.isActive else { return }
                context.writeResponse(.empty(status), keepAlive: keepAlive)
            }
        }
    }
}
