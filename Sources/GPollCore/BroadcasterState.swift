/// One gpoll endpoint's whole state as a deterministic state machine: clients,
/// their queues, waiting polls, and the deadlines of timeouts and idle expiry.
///
/// It performs no I/O and reads no clock. A server calls one method per event
/// (handshake, poll, publish, disconnect, failed write, timer) and carries out
/// what the returned value says: which polls to answer with which message, which
/// to answer 204.
///
/// Every client is owed the same messages in the same order (those published
/// while it is live), so the queues are not stored per client: the endpoint keeps
/// one log of the last B+1 messages and each client a cursor into it. A publish
/// therefore costs time for the polls it answers and the clients it evicts, not
/// for every client; clients that merely queue the message cost nothing.
///
/// Acknowledged delivery (`ack`, Spec section 18) is a second cursor per client
/// (see ``ClientRecord``): a client's sequence numbers are its offsets in the
/// log, so re-sending an unacknowledged message is moving a cursor back.
///
/// `Message` is whatever the server holds a message as (bytes, a NIO `ByteBuffer`).
public struct BroadcasterState<Message: Sendable>: Sendable {
    public let configuration: BroadcasterConfiguration

    var clients: [UUIDv4: ClientRecord] = [:]
    /// Waiting polls, to find a poll's client on publish, disconnect or timeout.
    var waitingPolls: [PollToken: UUIDv4] = [:]
    /// Clients without a waiting poll, by effective cursor: a publish evicts the
    /// ones whose queue is full (cursor B or more behind) without visiting the rest.
    var clientsByCursor: [UInt64: Set<UUIDv4>] = [:]
    /// Messages handed back after a failed write, owed before the client's log part.
    var returned: [UUIDv4: [ReturnedMessage<Message>]] = [:]
    /// Recently evicted and expired ids, for `GPoll-Reason` (bounded).
    var ended: RecentlyEndedClients
    /// The last published messages: sequence numbers `logStart ..< nextSequence`.
    var log = RingBuffer<Message>()
    var logStart: UInt64 = 0
    /// The sequence number the next published message gets.
    var nextSequence: UInt64 = 0

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
    var idleDeadlines = RingBuffer<IdleDeadline>()

    var counters = BroadcasterStatistics()

    /// After ``beginShutdown(now:)``: no poll waits any more (each is answered 204
    /// at once); publishing, handshakes and delivering queued messages go on.
    public private(set) var isShuttingDown = false

    public init(configuration: BroadcasterConfiguration, uuidSource: some UUIDSource = SecureUUIDSource()) {
        precondition(configuration.problems.isEmpty, configuration.problems.joined(separator: "; "))
        self.configuration = configuration
        self.uuidSource = uuidSource
        self.ended = RecentlyEndedClients(capacity: configuration.endedClientMemory)
    }

    // MARK: Queries

    public var clientCount: Int { clients.count }
    public var waitingPollCount: Int { waitingPolls.count }
    /// Running totals since this state machine was made.
    public var statistics: BroadcasterStatistics { counters }

    public func isLive(_ id: ClientID) -> Bool { clients[id.uuid]?.id == id }

    /// How many messages a client holds: queued, and with `ack` also handed out
    /// but unacknowledged (what B bounds); nil if it is not live.
    public func queuedMessageCount(of id: ClientID) -> Int? {
        guard let record = clients[id.uuid], record.id == id else { return nil }
        return Int(nextSequence - record.effectiveCursor)
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

    /// Registers a new client (Spec section 5). The id is live, and pollable, as soon
    /// as this returns; it is owed every message published from now on.
    public mutating func register(now: GPollInstant) -> RegistrationResult {
        if let limit = configuration.maxClients, clients.count >= limit {
            counters.refusedHandshakes += 1
            return .refused(.clientLimitReached(limit))
        }
        var uuid = uuidSource.nextUUID()
        // 122 random bits make a collision all but impossible; a uuid source in a test may still repeat.
        while clients[uuid] != nil { uuid = uuidSource.nextUUID() }
        let id = ClientID(routine: assignRoutine(), uuid: uuid)
        ended.forget(uuid)
        clients[uuid] = ClientRecord(id: id, firstSequence: nextSequence)
        clientsByCursor[nextSequence, default: []].insert(uuid)
        startIdleClock(of: uuid, now: now)
        counters.registeredClients += 1
        return .registered(id)
    }

    /// The original's placement: the newest routine while it has room, else the lowest unused id.
    private mutating func assignRoutine() -> UInt32 {
        if let node = configuration.nodeRoutine {
            routineSizes[node, default: 0] += 1
            newestRoutine = node
            return node
        }
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
    ///
    /// `ack` is the poll's `ack=n` (Spec section 18): messages up to n are
    /// acknowledged, and the answer is the message after n, re-sent if it was
    /// handed out before; it stays unacknowledged until a later poll says so.
    /// nil (a gpoll/1 poll) acknowledges everything handed out, its own answer
    /// included. Ignored unless the configuration offers acknowledged delivery.
    public mutating func poll(_ id: ClientID, acknowledging ack: UInt64? = nil, token: PollToken, now: GPollInstant) -> PollResult<Message> {
        guard let record = clients[id.uuid], record.id == id else {
            counters.notFoundPolls += 1
            return .notFound(ended: ended.reason(for: id))
        }
        let uuid = id.uuid
        let ack = configuration.offersAcknowledgedDelivery ? ack : nil
        if let ack {
            guard ack <= record.highestHandedOut else { return .acknowledgementTooHigh(highestHandedOut: record.highestHandedOut) }
            acknowledge(through: record.firstSequence + ack, of: uuid, dropsHandedBack: true)
        } else {
            acknowledge(through: record.cursor, of: uuid, dropsHandedBack: false)
        }
        if let (message, sequence) = takeNext(of: uuid, acknowledgingIt: ack == nil) {
            // A client with a queued message has no waiting poll (a publish would
            // have answered it), so no older poll needs releasing here.
            startIdleClock(of: uuid, now: now)
            counters.deliveredMessages += 1
            return .deliver(message, sequence: sequence)
        }
        // Shutting down: nothing may wait, so this poll ends now (nothing was taken;
        // its ack counted, and the poll starts a new idle period as a 204 does).
        if isShuttingDown {
            startIdleClock(of: uuid, now: now)
            return .endNow
        }
        let current = clients[uuid]!
        // Newest poll wins (Spec section 11): the older poll ends with 204 at once.
        let superseded = current.waitingPoll
        if let superseded {
            waitingPolls[superseded] = nil
        } else {
            removeFromCursorIndex(uuid, cursor: current.effectiveCursor)
        }
        clients[uuid]!.waitingPoll = token
        clients[uuid]!.waitingPollAcknowledges = ack != nil
        clients[uuid]!.idleEpoch &+= 1  // a waiting poll stops the idle clock
        waitingPolls[token] = uuid
        if let timeout = configuration.pollTimeout {
            pollDeadlines.append((now + timeout, token))
            compactPollDeadlinesIfSparse()
        }
        return .wait(superseded: superseded)
    }

    /// Acknowledges every log message before `through` (never moving back) and
    /// rewinds the hand-out cursor to the first unacknowledged message, so that
    /// messages handed out but not acknowledged are handed out again, in order.
    /// `dropsHandedBack` (an explicit `ack=n`): handed-back messages up to n were
    /// received after all and are dropped; a gpoll/1 poll keeps them owed.
    private mutating func acknowledge(through: UInt64, of uuid: UUIDv4, dropsHandedBack: Bool) {
        let record = clients[uuid]!
        // The common case (every gpoll/1 poll, and an ack poll with nothing outstanding) changes nothing.
        if through <= record.acknowledged, record.cursor == record.acknowledged, !(dropsHandedBack && record.returnedCount > 0) { return }
        var updated = record
        updated.acknowledged = Swift.max(record.acknowledged, through)
        updated.cursor = updated.acknowledged
        if dropsHandedBack, record.returnedCount > 0 {
            returned[uuid]!.removeAll { $0.logSequence < through }
            updated.returnedCount = returned[uuid]!.count
            if updated.returnedCount == 0 { returned[uuid] = nil }
        }
        clients[uuid] = updated
        if record.waitingPoll == nil, updated.effectiveCursor != record.effectiveCursor {
            moveInCursorIndex(uuid, from: record.effectiveCursor, to: updated.effectiveCursor)
        }
    }

    /// Takes the oldest message owed to a client, if any, with its client sequence
    /// number: a handed-back one first, then the log's. `acknowledgingIt` (a gpoll/1
    /// poll) counts the message as delivered at once; else it stays held, unacknowledged.
    private mutating func takeNext(of uuid: UUIDv4, acknowledgingIt: Bool) -> (Message, UInt64)? {
        let record = clients[uuid]!
        if record.returnedCount > 0 {
            // A handed-back message is taken as gpoll/1 took it first: as delivered.
            let taken = returned[uuid]!.removeFirst()
            if returned[uuid]!.isEmpty { returned[uuid] = nil }
            clients[uuid]!.returnedCount -= 1
            moveInCursorIndex(uuid, from: record.effectiveCursor, to: record.effectiveCursor + 1)
            return (taken.message, record.clientSequence(of: taken.logSequence))
        }
        guard record.cursor < nextSequence else { return nil }
        let message = log[offset: Int(record.cursor - logStart)]
        clients[uuid]!.cursor += 1
        if acknowledgingIt {
            clients[uuid]!.acknowledged = record.cursor + 1
            moveInCursorIndex(uuid, from: record.effectiveCursor, to: record.effectiveCursor + 1)
        }
        return (message, record.clientSequence(of: record.cursor))
    }

    // MARK: Publish

    /// Offers a message to every live client (Spec sections 9 and 10): a waiting
    /// poll takes it directly, a client with room queues it, a client whose
    /// queue already holds B messages is evicted instead.
    public mutating func publish(_ message: Message, now: GPollInstant) -> PublishResult<Message> {
        var result = PublishResult<Message>()
        let sequence = nextSequence
        let capacity = UInt64(configuration.clientBufferCapacity)

        // A full queue is B messages: effective cursor B behind. A handed-back
        // message can put a client one further behind (B+1), so look there too.
        if sequence >= capacity {
            let full = sequence - capacity
            for behind in full == 0 ? [full] : [full, full - 1] {
                guard let clientsBehind = clientsByCursor.removeValue(forKey: behind) else { continue }
                for uuid in clientsBehind {
                    result.evicted.append(clients[uuid]!.id)
                    removeClient(uuid, reason: .bufferOverflow, indexedAt: nil)
                }
            }
        }

        // Waiting polls take the message directly. A gpoll/1 poll's client then
        // holds nothing up to and including this message; an `ack` poll's client
        // holds it unacknowledged. (A waiting client has nothing queued and
        // nothing unacknowledged, so its effective cursor is `sequence`.)
        if !waitingPolls.isEmpty {
            result.deliveries.reserveCapacity(waitingPolls.count)
            // Taken out of the dictionary so that inserting does not copy the sets.
            var delivered = clientsByCursor.removeValue(forKey: sequence + 1) ?? []
            var heldUnacknowledged = clientsByCursor.removeValue(forKey: sequence) ?? []
            for (token, uuid) in waitingPolls {
                let record = clients[uuid]!
                clients[uuid]!.waitingPoll = nil
                clients[uuid]!.cursor = sequence + 1
                if record.waitingPollAcknowledges {
                    heldUnacknowledged.insert(uuid)
                } else {
                    clients[uuid]!.acknowledged = sequence + 1
                    delivered.insert(uuid)
                }
                result.deliveries.append(Delivery(
                    token: token, client: record.id, message: message, sequence: record.clientSequence(of: sequence)))
                startIdleClock(of: uuid, now: now)
            }
            if !delivered.isEmpty { clientsByCursor[sequence + 1] = delivered }
            if !heldUnacknowledged.isEmpty { clientsByCursor[sequence] = heldUnacknowledged }
            waitingPolls.removeAll(keepingCapacity: true)
        }

        log.append(message)
        nextSequence = sequence + 1
        // No live client is owed anything older than B+1 messages back (see above).
        while nextSequence - logStart > capacity + 1 {
            _ = log.popFirst()
            logStart += 1
        }

        result.queued = clients.count - result.deliveries.count
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
        endWaiting(of: uuid, now: now)
        return true
    }

    /// Writing `message` (the client's message `sequence`) to `id` failed, so it
    /// was never received: it goes back to the front of the client's queue, or
    /// straight to a poll that waits by now.
    ///
    /// A message handed out to an `ack` poll and not acknowledged needs nothing:
    /// the client still holds it, and its next poll (acknowledging less) gets it again.
    public mutating func returnUndelivered(_ message: Message, sequence: UInt64, to id: ClientID, now: GPollInstant) -> ReturnResult<Message> {
        guard let record = clients[id.uuid], record.id == id else { return .clientGone }
        let uuid = id.uuid
        let logSequence = record.firstSequence + sequence - 1
        // Handed-back messages are those a gpoll/1 poll took (acknowledging them as
        // it did); a message handed back again keeps its place at the front.
        if logSequence >= record.acknowledged {
            counters.deliveredMessages -= 1
            return .requeued
        }
        if let token = record.waitingPoll {
            waitingPolls[token] = nil
            clients[uuid]!.waitingPoll = nil
            clientsByCursor[record.effectiveCursor, default: []].insert(uuid)
            startIdleClock(of: uuid, now: now)
            return .deliver(Delivery(token: token, client: id, message: message, sequence: sequence))
        }
        // This may leave B+1 messages queued: the message was accepted before the
        // newer ones, so it is owed; the next publish then evicts, as it would have.
        counters.deliveredMessages -= 1
        returned[uuid, default: []].insert(ReturnedMessage(message: message, logSequence: logSequence), at: 0)
        clients[uuid]!.returnedCount += 1
        moveInCursorIndex(uuid, from: record.effectiveCursor, to: record.effectiveCursor - 1)
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
            endWaiting(of: uuid, now: now)
            result.timedOutPolls.append(token)
        }
        while let entry = idleDeadlines.first, entry.deadline <= now {
            _ = idleDeadlines.popFirst()
            guard let record = clients[entry.client], record.idleEpoch == entry.epoch, record.waitingPoll == nil else { continue }
            result.expiredClients.append(record.id)
            removeClient(entry.client, reason: .idleExpiry, indexedAt: record.effectiveCursor)
        }
        counters.timedOutPolls += UInt64(result.timedOutPolls.count)
        return result
    }

    /// Starts a graceful shutdown: every waiting poll ends at once (answer each
    /// 204), and from now on a poll that would wait gets ``PollResult/endNow``.
    /// Calling it again releases nothing more.
    public mutating func beginShutdown(now: GPollInstant) -> [PollToken] {
        isShuttingDown = true
        return releaseWaitingPolls(now: now)
    }

    /// Evicts every client, for a cluster node that lost messages it owed them
    /// (Spec 9: a client that cannot get every message is evicted, and registers
    /// again). Returns the waiting polls to answer 204; their next poll gets 404.
    public mutating func evictAll(now: GPollInstant) -> (releasedPolls: [PollToken], evicted: [ClientID]) {
        let released = releaseWaitingPolls(now: now)
        let evicted = clients.values.map(\.id)
        for record in clients.values { removeClient(record.id.uuid, reason: .bufferOverflow, indexedAt: record.effectiveCursor) }
        return (released, evicted)
    }

    // MARK: Internals

    /// Ends every waiting poll without a message; returns them, to answer 204.
    private mutating func releaseWaitingPolls(now: GPollInstant) -> [PollToken] {
        let waiting = waitingPolls
        waitingPolls.removeAll()
        for uuid in waiting.values { endWaiting(of: uuid, now: now) }
        return Array(waiting.keys)
    }

    /// A waiting poll ended without a message (timeout, disconnect, shutdown);
    /// the caller already took it out of `waitingPolls`.
    private mutating func endWaiting(of uuid: UUIDv4, now: GPollInstant) {
        guard let record = clients[uuid] else { return }
        clients[uuid]!.waitingPoll = nil
        clientsByCursor[record.effectiveCursor, default: []].insert(uuid)
        startIdleClock(of: uuid, now: now)
    }

    private mutating func moveInCursorIndex(_ uuid: UUIDv4, from old: UInt64, to new: UInt64) {
        removeFromCursorIndex(uuid, cursor: old)
        clientsByCursor[new, default: []].insert(uuid)
    }

    private mutating func removeFromCursorIndex(_ uuid: UUIDv4, cursor: UInt64) {
        guard clientsByCursor[cursor]?.remove(uuid) != nil else { return }
        if clientsByCursor[cursor]!.isEmpty { clientsByCursor[cursor] = nil }
    }

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
    private mutating func compactIdleDeadlinesIfSparse() {
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

    /// Ends a client. `indexedAt` is its key in `clientsByCursor`, or nil if the
    /// caller already took it out of the index (or it had a waiting poll).
    private mutating func removeClient(_ uuid: UUIDv4, reason: EvictionReason, indexedAt cursor: UInt64?) {
        guard let record = clients.removeValue(forKey: uuid) else { return }
        ended.remember(record.id, reason: reason)
        if let token = record.waitingPoll { waitingPolls[token] = nil }
        if let cursor, record.waitingPoll == nil { removeFromCursorIndex(uuid, cursor: cursor) }
        returned[uuid] = nil
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
