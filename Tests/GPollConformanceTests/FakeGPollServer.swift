import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A second, independent gpoll server on raw NIO, written from Spec alone (it shares
/// no code with GPollServer or GPollCore's state machine), that can be built with
/// ``FakeDefect``s. Without defects it must pass every case; with one, the cases that
/// check what the defect breaks must FAIL or WARN. All state lives on one event loop.
final class FakeGPollServer: @unchecked Sendable {
    struct Config: Sendable {
        var defects: Set<FakeDefect> = []
        var clientBuffer = 4
        var pollTimeout: TimeAmount? = .milliseconds(1500)
        var idleExpiry: TimeAmount? = .milliseconds(1500)
        var maxClients: Int? = nil
        var publishToken = "secret"
        var bindHost = "127.0.0.1"
    }

    let config: Config
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: (any Channel)?
    var endpoints: [String: FakeEndpoint] = ["/poll": FakeEndpoint(), "/poll2": FakeEndpoint()]
    var connections: [ObjectIdentifier: any Channel] = [:]
    var uuidCounter: UInt64 = 0
    private(set) var port = 0
    /// fanOutRaces: the message held back for a client, by client.
    var heldForRace: [ObjectIdentifier: (FakeClient, FakeEndpoint, [UInt8])] = [:]
    var racing = false
    /// blocksOnSlowHeaders: connections with part of a request head, and the requests
    /// waiting for those heads to complete.
    var midHead: Set<ObjectIdentifier> = []
    var parked: [(FakeHandler, HTTPRequestHead, [UInt8])] = []

    init(_ config: Config = Config()) { self.config = config }
    convenience init(defects: Set<FakeDefect>) { self.init(Config(defects: defects)) }

    func has(_ defect: FakeDefect) -> Bool { config.defects.contains(defect) }
    var loop: any EventLoop { group.next() }

    func start() async throws {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = FakeHandler(server: self)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    if self.has(.blocksOnSlowHeaders) {
                        try channel.pipeline.syncOperations.addHandler(ByteArrivalSpy(handler), position: .first)
                    }
                }
            }
            .bind(host: config.bindHost, port: 0).get()
        self.channel = channel
        port = channel.localAddress?.port ?? 0
        if let e = config.idleExpiry, !has(.noIdleExpiry) {
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { _ in self.expireIdle(e) }
        }
    }

    func stop() async {
        try? await channel?.close()
        try? await loop.submit { for c in self.connections.values { c.close(promise: nil) } }.get()
        try? await group.shutdownGracefully()
    }

    var host: String { config.bindHost == "0.0.0.0" ? Self.externalAddress ?? "127.0.0.1" : "127.0.0.1" }
    var pollURL: String { "http://\(host):\(port)/poll" }
    var secondURL: String { "http://\(host):\(port)/poll2" }
    var publishURL: String { "http://127.0.0.1:\(port)/publish" }
    var secondPublishURL: String { "http://127.0.0.1:\(port)/publish2" }

    /// A non-loopback IPv4 address of this machine, if it has one.
    static let externalAddress: String? = {
        (try? System.enumerateDevices())?.compactMap { device -> String? in
            guard case .v4(let address) = device.address, let ip = device.address?.ipAddress, !ip.hasPrefix("127.") else { return nil }
            _ = address
            return ip
        }.first
    }()

    // MARK: Protocol state

    func expireIdle(_ e: TimeAmount) {
        let now = NIODeadline.now()
        for endpoint in endpoints.values {
            for client in endpoint.clients.values {
                let idleSince = has(.expiresWhilePolling) ? client.created : client.lastActivity
                let polling = !client.waiting.isEmpty && !has(.expiresWhilePolling)
                if !polling && now - idleSince >= e { evict(client, from: endpoint, reason: "expired") }
            }
        }
    }

    func evict(_ client: FakeClient, from endpoint: FakeEndpoint, reason: String = "evicted") {
        if has(.evictionKeepsID) {
            client.queue.removeAll()
            return
        }
        endpoint.clients[client.uuid] = nil
        endpoint.ended[client.id] = reason
        for poll in client.waiting { poll.respond(status: .notFound, extra: [("GPoll-Reason", reason)]) }
        client.waiting.removeAll()
    }

    func publish(_ message: [UInt8], to path: String) {
        if actsOnControlWord(message, at: path) { return }
        var message = message
        if has(.truncatesLargeMessages) { message = Array(message.prefix(60_000)) }
        if has(.textMessages) { message = Array(String(decoding: message, as: UTF8.self).utf8) }
        let targets = has(.publishToAllEndpoints) ? Array(endpoints.values) : [endpoints[path]!]
        for endpoint in targets {
            endpoint.lastPublished = message
            if has(.limitBreaksLive), let max = config.maxClients, endpoint.clients.count >= max { continue }
            for client in endpoint.clients.values.sorted(by: { $0.serial < $1.serial }) {
                if has(.broadcastsToFirst10) && client.serial >= 10 { continue }
                offer(message, to: client, in: endpoint)
            }
        }
    }

    func offer(_ message: [UInt8], to client: FakeClient, in endpoint: FakeEndpoint) {
        if has(.lateSubscription) && NIODeadline.now() < client.liveAt { return }
        if has(.fanOutRaces) && !racing && client.serial % 2 == 1 { return race(message, to: client, in: endpoint) }
        if has(.shardsReorder) && client.serial >= 1000 {
            guard let held = client.held else {
                client.held = message
                return
            }
            client.held = nil
            offerInOrder(message, to: client, in: endpoint)
            offerInOrder(held, to: client, in: endpoint)
            return
        }
        offerInOrder(message, to: client, in: endpoint)
    }

    private func offerInOrder(_ message: [UInt8], to client: FakeClient, in endpoint: FakeEndpoint) {
        if client.loseNext {
            client.loseNext = false
            return
        }
        if !client.waiting.isEmpty && !has(.waitingPollsIgnored) {
            if has(.fanOutToPolls) {
                for poll in client.waiting { poll.deliver(message) }
                client.waiting.removeAll()
            } else {
                client.waiting.removeFirst().deliver(message)
            }
            return
        }
        if has(.dedupesEqualMessages) && client.lastOffered == message { return }
        client.lastOffered = message
        let limit = has(.evictAtB) ? config.clientBuffer - 1 : config.clientBuffer
        // Handed out but unacknowledged messages are held too (AK-4).
        let held = client.queue.count + (has(.unacknowledgedNotCounted) ? 0 : client.unacknowledged)
        if held >= limit && !has(.neverEvicts) {
            evict(client, from: endpoint)
            return
        }
        if has(.reorders) { client.queue.insert(message, at: 0) } else { client.queue.append(message) }
        if has(.duplicateDelivery) { client.queue.append(message) }
    }

    func newUUID() -> String {
        var high = UInt64.random(in: 0...UInt64.max), low = UInt64.random(in: 0...UInt64.max)
        if has(.counterUUIDs) {
            uuidCounter += 1
            high = 0x1234_5678_9abc_0000 | uuidCounter
            low = uuidCounter
        }
        high = (high & ~0xF000) | (has(.nonV4UUIDs) ? 0x1000 : 0x4000)
        low = (low & ~(0b11 << 62)) | (0b10 << 62)
        let hex = String(high, radix: 16).leftPad(16) + String(low, radix: 16).leftPad(16)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    func closeEveryone() { for c in connections.values { c.close(promise: nil) } }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

final class FakeEndpoint {
    var clients: [String: FakeClient] = [:]
    /// Ids of evicted and expired clients, with the reason their polls are told.
    var ended: [String: String] = [:]
    /// Every uuid issued (for the reasonsByUUID defect).
    var issued: Set<String> = []
    var registered = 0
    var lastPublished: [UInt8]?
}

final class FakeClient {
    let uuid: String
    let routine = 0
    let serial: Int
    let created = NIODeadline.now()
    var liveAt: NIODeadline
    var lastActivity = NIODeadline.now()
    var queue: [[UInt8]] = []
    var waiting: [FakeHandler] = []
    var lastOffered: [UInt8]?
    var loseNext = false
    /// The message `shardsReorder` holds back until the next one.
    var held: [UInt8]?
    /// Acknowledged delivery: every message handed out, at index sequence - 1.
    var history: [[UInt8]] = []
    /// Messages up to this sequence are acknowledged.
    var acked = 0
    /// The index in `history` of the next message to hand out again (after an ack rewinds).
    var resend = 0
    var unacknowledged: Int { history.count - acked }
    init(uuid: String, serial: Int, liveAt: NIODeadline) {
        self.uuid = uuid
        self.serial = serial
        self.liveAt = liveAt
    }
    var id: String { "\(routine)$\(uuid)" }
}

// MARK: - gpoll/1.1 defects: control words, racing fan-out

extension FakeGPollServer {
    /// controlWords: the original drives its routines through the message channel, so a
    /// message that is exactly `quit`, `clean` or `close` is taken as a command: it is not
    /// delivered and the routine's clients are gone. crashesOnQuit: the process dies.
    func actsOnControlWord(_ message: [UInt8], at path: String) -> Bool {
        guard ["quit", "clean", "close"].contains(String(decoding: message, as: UTF8.self)) else { return false }
        if has(.crashesOnQuit) {
            channel?.close(promise: nil)
            closeEveryone()
            return true
        }
        guard has(.controlWords), let endpoint = endpoints[path] else { return false }
        for client in Array(endpoint.clients.values) { evict(client, from: endpoint) }
        return true
    }

    /// fanOutRaces: every client's copy travels on a path of its own, and on an odd
    /// client's path a message waits 50 ms, so that one published meanwhile overtakes it.
    func race(_ message: [UInt8], to client: FakeClient, in endpoint: FakeEndpoint) {
        let key = ObjectIdentifier(client)
        if let (_, _, held) = heldForRace.removeValue(forKey: key) {
            offerUnraced(message, to: client, in: endpoint)
            offerUnraced(held, to: client, in: endpoint)
            return
        }
        heldForRace[key] = (client, endpoint, message)
        loop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { [self] in
            guard let (client, endpoint, held) = heldForRace.removeValue(forKey: key) else { return }
            offerUnraced(held, to: client, in: endpoint)
        }
    }

    private func offerUnraced(_ message: [UInt8], to client: FakeClient, in endpoint: FakeEndpoint) {
        racing = true
        offer(message, to: client, in: endpoint)
        racing = false
    }
}
