/// One gpoll endpoint's whole state as a deterministic state machine: clients,
/// their queues, waiting polls, and the deadlines of timeouts and idle expiry.
///
/// It performs no I/O and reads no clock. A server calls one method per event
/// (handshake, poll, publish, disconnect, failed write, timer) and carries out
/// what the returned value says: which polls to answer with which message, which
/// to answer 204. Every method runs in time proportional to its own output,
/// except ``publish(_:now:)``, which visits every client once.
///
/// `Message` is whatever the server holds a message as (bytes, a NIO
/// `ByteBuffer`); a publish hands the same value to every client, so it should
/// be cheap to copy.
public struct BroadcasterState<Message: Sendable>: Sendable {
    public let configuration: BroadcasterConfiguration

    @usableFromInline var clients: [UUIDv4: ClientRecord<Message>] = [:]
    /// Waiting polls, to find a poll's client on disconnect or timeout.
    @usableFromInline var waitingPolls: [PollToken: UUIDv4] = [:]
    /// Live client count per routine id.
    var routineSizes: [UInt32: Int] = [:]
    /// The routine new clients join while it has room.
    var newestRoutine: UInt32?
    var uuidSource: any UUIDSource
    /// Poll deadlines in arrival order. T is constant, so arrival order is deadline
    /// order; entries whose poll already ended are skipped when they reach the front.
    var pollDeadlines = RingBuffer<(deadline: GPollInstant, token: PollToken)>()
    /// Idle deadlines in the order clients became idle (E is constant, so this is
    /// deadline order too); an entry counts only if its epoch is still the client's.
    @usableFromInline var idleDeadlines = RingBuffer<IdleDeadline>()

    @usableFromInline var counters = BroadcasterStatistics()

    /// Running totals since this state machine was made.
    public var statistics: BroadcasterStatistics { counters }

    public init(configuration: BroadcasterConfiguration, uuidSource: some UUIDSource = SecureUUIDSource()) {
        precondition(configuration.problems.isEmpty, configuration.problems.joined(separator: "; "))
        self.configuration = configuration
        self.uuidSource = uuidSource
    }

    // MARK: Queries

    public var clientCount: Int { clients.count }
    public var waitingPollCount: Int { waitingPolls.count }

    public func isLive(_ id: ClientID) -> Bool { clients[id.uuid]?.id == id }

    /// How many messages wait in a client's queue; nil if it is not live.
    public func queuedMessageCount(of id: ClientID) -> Int? {
        guard let record = clients[id.uuid], record.id == id else { return nil }
        return record.queue.count
    }

    /// The earliest instant at which ``expire(now:)`` may have work; nil if none is pending.
    /// It can be early (the poll or client may have ended since), never late.
    public var nextDeadline: GPollInstant? {
        switch (pollDeadlines.first?.deadline, idleDeadlines.first?.deadline) {
        case (nil, nil): return nil
        case (let poll?, nil): return poll
        case (nil, let idle?): return idle
        case (let poll?, let idle?): return Swift.min(poll, idle)
        }
    }

    // MARK: Handshake

    /// Registers a new client (Spec section 5). The id is live, and pollable, as soon as this returns.
    public mutating func register(now: GPollInstant) -> RegistrationResult {
        if let limit = configuration.maxClients, clients.count >= limit {
            counters.refusedHandshakes += 1
            return .refused(.clientLimitReached(limit))
        }
        var uuid = uuidSource.nextUUID()
        // 122 random bits make a collision all but impossible; a uuid source in a test may still repeat.
        while clients[uuid] != nil { uuid = uuidSource.nextUUID() }
        let id = ClientID(routine: assignRoutine(), uuid: uuid)
        clients[uuid] = ClientRecord(id: id, capacity: configuration.clientBufferCapacity)
        startIdleClock(of: uuid, now: now)
        counters.registeredClients += 1
        return .registered(id)
    }

    /// The original's placement: the newest routine while it has room, else the lowest unused id.
    private mutating func assignRoutine() -> UInt32 {
        if let newest = newestRoutine, routineSizes[newest, default: 0] < configuration.routineMaxClients {
            routineSizes[newest, default: 0] += 1
            return newest
        }
        var candidate: UInt32 = 0
        while routineSizes[candidate] != nil { candidate += 1 }
        routineSizes[candidate] = 1
        newestRoutine = candidate
        return candidate
    }

    // MARK: Poll

    /// A poll of `id` arrives (Spec section 7). `token` names this poll until it
    /// ends; the server picks it and must not reuse it while the poll waits.
    public mutating func poll(_ id: ClientID, token: PollToken, now: GPollInstant) -> PollResult<Message> {
        guard let record = clients[id.uuid], record.id == id else {
            counters.notFoundPolls += 1
            return .notFound
        }
        if let message = clients[id.uuid]!.queue.popFirst() {
            // Any older waiting poll has an empty queue behind it, so none can be waiting here.
            startIdleClock(of: id.uuid, now: now)
            counters.deliveredMessages += 1
            return .deliver(message)
        }
        // Newest poll wins (Spec section 11): the older poll ends with 204 at once.
        let superseded = clients[id.uuid]!.waitingPoll
        if let superseded { waitingPolls[superseded] = nil }
        clients[id.uuid]!.waitingPoll = token
        clients[id.uuid]!.idleEpoch &+= 1  // a waiting poll stops the idle clock
        waitingPolls[token] = id.uuid
        if let timeout = configuration.pollTimeout {
            pollDeadlines.append((now + timeout, token))
            compactPollDeadlinesIfSparse()
        }
        return .wait(superseded: superseded)
    }

    // MARK: Publish

    /// Offers a message to every live client (Spec sections 9 and 10): a waiting
    /// poll takes it directly, a client with room queues it, a client whose
    /// queue already holds B messages is evicted instead.
    @inlinable
    public mutating func publish(_ message: Message, now: GPollInstant) -> PublishResult<Message> {
        var result = PublishResult<Message>()
        let capacity = configuration.clientBufferCapacity
        var index = clients.startIndex
        while index != clients.endIndex {
            // Mutating through `values` keeps each record's queue storage uniquely referenced.
            if let token = clients.values[index].waitingPoll {
                clients.values[index].waitingPoll = nil
                waitingPolls[token] = nil
                result.deliveries.append(Delivery(token: token, client: clients.values[index].id, message: message))
                // The poll ends here, so the client's idle clock starts again.
                clients.values[index].idleEpoch &+= 1
                if let expiry = configuration.idleExpiry {
                    idleDeadlines.append(IdleDeadline(deadline: now + expiry, client: clients.keys[index], epoch: clients.values[index].idleEpoch))
                }
            } else if clients.values[index].queue.count >= capacity {
                result.evicted.append(clients.values[index].id)
            } else {
                clients.values[index].queue.append(message)
                result.queued += 1
            }
            clients.formIndex(after: &index)
        }
        for id in result.evicted { removeClient(id.uuid, reason: .bufferOverflow) }
        compactIdleDeadlinesIfSparse()
        counters.publishedMessages += 1
        counters.deliveredMessages += UInt64(result.deliveries.count)
        return result
    }

    // MARK: Disconnects and failed writes

    /// The connection of a waiting poll closed (Spec section 13): the poll is
    /// withdrawn so that no message is taken off the queue for it.
    /// Returns false if the poll was no longer waiting (already answered or superseded).
    @discardableResult
    public mutating func withdraw(_ token: PollToken, now: GPollInstant) -> Bool {
        guard let uuid = waitingPolls.removeValue(forKey: token) else { return false }
        if clients[uuid]?.waitingPoll == token {
            clients[uuid]!.waitingPoll = nil
            startIdleClock(of: uuid, now: now)
        }
        return true
    }

    /// Writing `message` to `id` failed, so it was never received: it goes back to
    /// the front of the client's queue, or straight to a poll that waits by now.
    public mutating func returnUndelivered(_ message: Message, to id: ClientID, now: GPollInstant) -> ReturnResult<Message> {
        guard let record = clients[id.uuid], record.id == id else { return .clientGone }
        counters.deliveredMessages -= 1
        if let token = record.waitingPoll {
            clients[id.uuid]!.waitingPoll = nil
            waitingPolls[token] = nil
            startIdleClock(of: id.uuid, now: now)
            counters.deliveredMessages += 1
            return .deliver(Delivery(token: token, client: id, message: message))
        }
        // This may leave B+1 messages queued: the message was accepted before the
        // newer ones, so it is owed; the next publish then evicts, as it would have.
        clients[id.uuid]!.queue.prepend(message)
        return .requeued
    }

    // MARK: Timers

    /// Ends every poll whose timeout has passed (answer each 204; nothing was
    /// consumed) and evicts every client idle for E (Spec sections 12 and 14).
    public mutating func expire(now: GPollInstant) -> ExpiryResult {
        var result = ExpiryResult()
        while let (deadline, token) = pollDeadlines.first, deadline <= now {
            _ = pollDeadlines.popFirst()
            guard let uuid = waitingPolls.removeValue(forKey: token) else { continue }
            clients[uuid]!.waitingPoll = nil
            startIdleClock(of: uuid, now: now)
            result.timedOutPolls.append(token)
        }
        while let entry = idleDeadlines.first, entry.deadline <= now {
            _ = idleDeadlines.popFirst()
            guard let record = clients[entry.client], record.idleEpoch == entry.epoch, record.waitingPoll == nil else { continue }
            result.expiredClients.append(record.id)
            removeClient(entry.client, reason: .idleExpiry)
        }
        counters.timedOutPolls += UInt64(result.timedOutPolls.count)
        return result
    }

    /// Ends every waiting poll at once, for a graceful shutdown: answer each 204.
    public mutating func releaseAllPolls(now: GPollInstant) -> [PollToken] {
        let tokens = Array(waitingPolls.keys)
        for (token, uuid) in waitingPolls where clients[uuid]?.waitingPoll == token {
            clients[uuid]!.waitingPoll = nil
            startIdleClock(of: uuid, now: now)
        }
        waitingPolls.removeAll()
        return tokens
    }

    // MARK: Internals

    /// Starts a new idle period; the entry of any earlier period becomes stale.
    private mutating func startIdleClock(of uuid: UUIDv4, now: GPollInstant) {
        clients[uuid]!.idleEpoch &+= 1
        guard let expiry = configuration.idleExpiry else { return }
        idleDeadlines.append(IdleDeadline(deadline: now + expiry, client: uuid, epoch: clients[uuid]!.idleEpoch))
        compactIdleDeadlinesIfSparse()
    }

    /// Stale entries are dropped when they reach the front; if they pile up faster
    /// than that (many short polls), sweep them so the queue stays proportional
    /// to the number of clients.
    @usableFromInline
    mutating func compactIdleDeadlinesIfSparse() {
        guard idleDeadlines.count > 2 * clients.count + 1024 else { return }
        let clients = self.clients
        idleDeadlines.removeAll { entry in
            guard let record = clients[entry.client] else { return true }
            return record.idleEpoch != entry.epoch
        }
    }

    private mutating func compactPollDeadlinesIfSparse() {
        guard pollDeadlines.count > 2 * waitingPolls.count + 1024 else { return }
        let waiting = waitingPolls
        pollDeadlines.removeAll { waiting[$0.token] == nil }
    }

    @usableFromInline
    mutating func removeClient(_ uuid: UUIDv4, reason: EvictionReason) {
        guard let record = clients.removeValue(forKey: uuid) else { return }
        if let token = record.waitingPoll { waitingPolls[token] = nil }
        let routine = record.id.routine
        let remaining = routineSizes[routine, default: 1] - 1
        // An emptied routine is torn down, except the newest, which new clients still fill.
        if remaining == 0 && routine != newestRoutine { routineSizes[routine] = nil } else { routineSizes[routine] = remaining }
        switch reason {
        case .bufferOverflow: counters.overflowEvictions += 1
        case .idleExpiry: counters.idleEvictions += 1
        }
    }
}
