import GPollCore
import NIOCore

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

/// Carries the answers of an endpoint's waiting polls to the event loops of
/// their connections: one ``LoopPollRegistry`` per event loop of one
/// `EventLoopGroup`, built once, in the order the group lists its loops.
///
/// A publish happens on any thread, but a waiting poll's channel may only be
/// written on its own event loop. So the broadcaster speaks in tokens, and a
/// token says where its connection is (``PollTokenLayout``): the index of its
/// loop in ``registries`` and its connection's slot in that loop's table. The
/// array never changes after `init`, so dispatching takes no lock and reads no
/// shared mutable state; each loop's table is touched only on its loop.
///
/// Each ``GPollRouter`` owns one (``GPollServer`` through its router), and an
/// endpoint is bound to the dispatcher of the one router that serves it: a
/// bare token can only be routed by the dispatcher whose registry made it.
/// Two servers in one process therefore never share a table, even on the same
/// event loops.
final class PollDispatcher: Sendable {
    let registries: [LoopPollRegistry]

    /// Fails if the group lists no event loop or more than the token has room for.
    init(eventLoopGroup: any EventLoopGroup) throws {
        let loops = Array(eventLoopGroup.makeIterator())
        guard !loops.isEmpty else { throw GPollConfigurationError(problems: ["the event loop group has no event loop"]) }
        guard loops.count <= PollTokenLayout.maximumLoops else {
            throw GPollConfigurationError(problems: ["an event loop group of more than \(PollTokenLayout.maximumLoops) event loops is not supported"])
        }
        self.registries = loops.enumerated().map { LoopPollRegistry(eventLoop: $1, index: UInt32($0)) }
    }

    /// The registry of `eventLoop`; nil if that loop is not in this dispatcher's group.
    /// A linear search, made once per connection (a group has a handful of loops).
    func registry(for eventLoop: any EventLoop) -> LoopPollRegistry? {
        registries.first { $0.eventLoop === eventLoop }
    }

    /// Sends each completion to its poll's event loop: one task per loop for the whole batch.
    func dispatch(_ completions: [PollCompletion], from endpoint: GPollEndpoint) {
        if registries.count == 1 || completions.count == 1 {
            guard let first = completions.first else { return }
            let registry = registry(of: first.token)
            registry.eventLoop.execute { registry.complete(completions, from: endpoint) }
            return
        }
        var batches = [[PollCompletion]](repeating: [], count: registries.count)
        for completion in completions {
            batches[Int(PollTokenLayout.loopIndex(of: completion.token))].append(completion)
        }
        for (index, batch) in batches.enumerated() where !batch.isEmpty {
            let registry = registries[index]
            registry.eventLoop.execute { registry.complete(batch, from: endpoint) }
        }
    }

    private func registry(of token: PollToken) -> LoopPollRegistry {
        let index = Int(PollTokenLayout.loopIndex(of: token))
        // Every token an endpoint holds was made by a registry of the dispatcher it is bound to.
        precondition(index < registries.count, "\(token) was not made by this dispatcher")
        return registries[index]
    }
}

/// The bits of a ``PollToken`` as the server makes them:
/// `[loop index: 10 bits][connection slot: 22 bits][serial: 32 bits]`.
///
/// The serial counts the polls of one loop, so that a token is unique among the
/// waiting polls (the broadcaster's only demand) and a late answer for a poll
/// that ended cannot be taken for a newer poll of the connection that took its
/// slot (that would need 2^32 polls on the loop while the answer is in flight).
enum PollTokenLayout {
    static let maximumLoops = 1 << 10
    static let maximumSlots = 1 << 22

    static func token(loop: UInt32, slot: UInt32, serial: UInt32) -> PollToken {
        PollToken(UInt64(loop) << 54 | UInt64(slot) << 32 | UInt64(serial))
    }

    static func loopIndex(of token: PollToken) -> UInt32 { UInt32(token.rawValue >> 54) }
    static func slot(of token: PollToken) -> UInt32 { UInt32(truncatingIfNeeded: token.rawValue >> 32) & UInt32(maximumSlots - 1) }
}

/// The handler and context of one connection that polls; loop-bound, never leaves its event loop.
struct PollConnection {
    let handler: GPollHTTPHandler
    let context: ChannelHandlerContext
}

/// The connections of one event loop that poll, by slot.
///
/// A connection takes a slot at its first poll and keeps it until it ends, so
/// polling costs no table insert or removal: the slot is in every token the
/// connection makes, and the connection's own ``ConnectionStateMachine`` holds
/// the one record of its waiting poll on this side, to compare a completion's
/// token against. The table grows to the loop's peak number of such
/// connections; a freed slot is reused by the next connection.
final class LoopPollRegistry: Sendable {
    let eventLoop: any EventLoop
    let index: UInt32
    private let table: NIOLoopBoundBox<ConnectionTable>

    private struct ConnectionTable {
        var connections: [PollConnection?] = []
        var freeSlots: [UInt32] = []
        var nextSerial: UInt32 = 0
    }

    init(eventLoop: any EventLoop, index: UInt32) {
        self.eventLoop = eventLoop
        self.index = index
        self.table = .makeBoxSendingValue(ConnectionTable(), eventLoop: eventLoop)
    }

    /// A slot for this connection's polls; nil if the loop has ``PollTokenLayout/maximumSlots`` already.
    func attach(_ handler: GPollHTTPHandler, context: ChannelHandlerContext) -> UInt32? {
        let connection = PollConnection(handler: handler, context: context)
        if let slot = table.value.freeSlots.popLast() {
            table.value.connections[Int(slot)] = connection
            return slot
        }
        guard table.value.connections.count < PollTokenLayout.maximumSlots else { return nil }
        table.value.connections.append(connection)
        return UInt32(table.value.connections.count - 1)
    }

    /// The connection ended: its slot is free, and a late answer for it goes back (see ``complete(_:from:)``).
    func detach(slot: UInt32) {
        table.value.connections[Int(slot)] = nil
        table.value.freeSlots.append(slot)
    }

    /// A token for the next poll of the connection in `slot`.
    func makeToken(slot: UInt32) -> PollToken {
        let serial = table.value.nextSerial
        table.value.nextSerial = serial &+ 1
        return PollTokenLayout.token(loop: index, slot: slot, serial: serial)
    }

    /// Runs on this loop: hands each answer of the batch to its connection, which
    /// writes it if it is for the poll that waits there. An answer whose
    /// connection is gone is never written elsewhere: a message goes back to its client.
    func complete(_ batch: [PollCompletion], from endpoint: GPollEndpoint) {
        var encodings = DeliveryEncodings()
        for completion in batch {
            let slot = Int(PollTokenLayout.slot(of: completion.token))
            if slot < table.value.connections.count, let connection = table.value.connections[slot] {
                connection.handler.finishPoll(completion, from: endpoint, context: connection.context, encodings: &encodings)
            } else if case .message(let delivery) = completion {
                endpoint.returnUndelivered(delivery.message, sequence: delivery.sequence, to: delivery.client)
            }
        }
    }
}
