import GPollCore
import NIOCore
import Synchronization

/// What one waiting poll is to be answered with, carried to the poll's event loop.
enum PollCompletion: Sendable {
    /// 200 with the message; if it cannot be written it goes back to the client's queue.
    case message(Delivery<ByteBuffer>)
    /// 204: timed out, superseded by a newer poll, or released at shutdown.
    case noContent(PollToken)

    var token: PollToken {
        switch self {
        case .message(let delivery): return delivery.token
        case .noContent(let token): return token
        }
    }
}

/// The handler and context of one waiting poll; loop-bound, never leaves its event loop.
struct PollWaiter {
    let handler: GPollHTTPHandler
    let context: ChannelHandlerContext
}

/// The waiting polls of one event loop, by token.
///
/// A publish happens on any thread, but a waiting poll's channel may only be
/// written on its own event loop. So the state machine speaks in tokens, and
/// each loop keeps its own token table that only it touches: no lock on the
/// delivery path, and one `execute` per loop per publish carries a whole batch.
/// The loop's index sits in the token's high bits, so a token alone says which
/// loop to send its completion to.
final class LoopPollRegistry: Sendable {
    static let indexShift: UInt64 = 48

    let eventLoop: any EventLoop
    let index: UInt64
    private let table: NIOLoopBoundBox<WaiterTable>

    private struct WaiterTable {
        var waiters: [PollToken: PollWaiter] = [:]
        var nextSerial: UInt64 = 0
    }

    init(eventLoop: any EventLoop, index: UInt64) {
        self.eventLoop = eventLoop
        self.index = index
        self.table = .makeBoxSendingValue(WaiterTable(), eventLoop: eventLoop)
    }

    /// A token unique on this loop for as long as this process runs (2^48 polls).
    func makeToken() -> PollToken {
        let serial = table.value.nextSerial
        table.value.nextSerial = serial &+ 1
        return PollToken(index << Self.indexShift | (serial & ((1 << Self.indexShift) - 1)))
    }

    func insert(_ token: PollToken, handler: GPollHTTPHandler, context: ChannelHandlerContext) {
        table.value.waiters[token] = PollWaiter(handler: handler, context: context)
    }

    func remove(_ token: PollToken) {
        table.value.waiters.removeValue(forKey: token)
    }

    /// Runs on this loop: answers each poll of the batch. A poll that is gone by
    /// now (its connection closed) cannot take a message, which then goes back.
    func complete(_ batch: [PollCompletion], from endpoint: GPollEndpoint) {
        var encodings = DeliveryEncodings()
        for completion in batch {
            if let waiter = table.value.waiters.removeValue(forKey: completion.token) {
                waiter.handler.finishPoll(completion, from: endpoint, context: waiter.context, encodings: &encodings)
            } else if case .message(let delivery) = completion {
                endpoint.returnUndelivered(delivery.message, sequence: delivery.sequence, to: delivery.client)
            }
        }
    }
}

/// One ``LoopPollRegistry`` per event loop, shared by every endpoint in the process.
///
/// Registries are never removed: each holds its event loop strongly, so an
/// `ObjectIdentifier` can never be reused for another loop. That costs one small
/// object per event loop ever used, which is a fixed handful in a server.
enum LoopPollRegistries {
    private struct Tables {
        var byLoop: [ObjectIdentifier: LoopPollRegistry] = [:]
        var byIndex: [LoopPollRegistry] = []
    }

    private static let tables = Mutex(Tables())

    static func registry(for eventLoop: any EventLoop) -> LoopPollRegistry {
        tables.withLock { tables in
            if let registry = tables.byLoop[ObjectIdentifier(eventLoop)] { return registry }
            let registry = LoopPollRegistry(eventLoop: eventLoop, index: UInt64(tables.byIndex.count))
            precondition(registry.index < 1 << (64 - LoopPollRegistry.indexShift), "too many event loops")
            tables.byLoop[ObjectIdentifier(eventLoop)] = registry
            tables.byIndex.append(registry)
            return registry
        }
    }

    static func registry(index: UInt64) -> LoopPollRegistry {
        tables.withLock { $0.byIndex[Int(index)] }
    }

    /// Sends each completion to its poll's event loop: one task per loop for the whole batch.
    static func dispatch(_ completions: [PollCompletion], from endpoint: GPollEndpoint) {
        guard let first = completions.first else { return }
        let firstIndex = first.token.rawValue >> LoopPollRegistry.indexShift
        if completions.allSatisfy({ $0.token.rawValue >> LoopPollRegistry.indexShift == firstIndex }) {
            let registry = registry(index: firstIndex)
            registry.eventLoop.execute { registry.complete(completions, from: endpoint) }
            return
        }
        var batches: [UInt64: [PollCompletion]] = [:]
        for completion in completions {
            batches[completion.token.rawValue >> LoopPollRegistry.indexShift, default: []].append(completion)
        }
        for (index, batch) in batches {
            let registry = registry(index: index)
            registry.eventLoop.execute { registry.complete(batch, from: endpoint) }
        }
    }
}
