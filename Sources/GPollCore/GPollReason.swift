/// The header names gpoll/1.1 adds (Spec sections 15 and 18).
public enum GPollHeaderName {
    /// On every 200 poll answer of a server that offers `ack`: the message's per-client sequence number.
    public static let sequence = "GPoll-Sequence"
    /// On 404 and 400 answers, optionally: one ``GPollReason`` token.
    public static let reason = "GPoll-Reason"
}

/// Why a request was answered 404 or 400, as the `GPoll-Reason` header says it
/// (NF-9). A server that sends reasons sends ``unknown`` for every value that is
/// not byte for byte an id it issued (NF-10), so a guess learns nothing.
public enum GPollReason: String, Hashable, Sendable, CaseIterable {
    /// V is not an id this server issued and remembers.
    case unknown
    /// V is exactly the id of a client evicted because its buffer was full (BU-2).
    case evicted
    /// V is exactly the id of a client evicted for idleness (RL-1).
    case expired
    /// The endpoint ended the client because it is shutting down.
    case shutdown
    /// 400: an invalid escape, a bad `ack`, a malformed request.
    case malformed
}

extension EvictionReason {
    /// The reason a later poll of the evicted id is told.
    public var wireReason: GPollReason {
        switch self {
        case .bufferOverflow: return .evicted
        case .idleExpiry: return .expired
        }
    }
}

/// The ids of recently ended clients and why they ended, so that a poll of one
/// can be told `evicted` or `expired` instead of `unknown`.
///
/// Bounded: it keeps the last `capacity` ended clients and forgets older ones
/// (they then read as `unknown`, which is always allowed), so memory never grows
/// with the number of clients an endpoint has ever had.
struct RecentlyEndedClients: Sendable {
    let capacity: Int
    /// Oldest first, to forget in the order clients ended.
    private var order = RingBuffer<UUIDv4>()
    private var ended: [UUIDv4: (id: ClientID, reason: EvictionReason)] = [:]

    init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
    }

    var count: Int { ended.count }

    mutating func remember(_ id: ClientID, reason: EvictionReason) {
        guard capacity > 0 else { return }
        if ended.updateValue((id, reason), forKey: id.uuid) == nil { order.append(id.uuid) }
        while order.count > capacity, let oldest = order.popFirst() { ended[oldest] = nil }
    }

    /// Why `id` ended; nil unless `id` is exactly (routine and uuid) an id that ended.
    func reason(for id: ClientID) -> EvictionReason? {
        guard let entry = ended[id.uuid], entry.id == id else { return nil }
        return entry.reason
    }

    /// A uuid issued again (only a test's uuid source repeats) names a live client now.
    mutating func forget(_ uuid: UUIDv4) {
        guard ended.removeValue(forKey: uuid) != nil else { return }
        order.removeAll { $0 == uuid }
    }
}
