/// A FIFO on a growable circular array: O(1) push at either end and pop at the
/// front, with storage that grows only as far as it is filled.
///
/// It enforces no bound itself: every owner states its own (a client queue holds
/// at most B messages plus one handed back after a failed write; the deadline
/// queues are compacted against the live polls and clients).
@usableFromInline
struct RingBuffer<Element> {
    @usableFromInline var storage: ContiguousArray<Element?> = []
    @usableFromInline var head = 0
    @usableFromInline var count = 0

    @inlinable init() {}

    @inlinable var isEmpty: Bool { count == 0 }

    @inlinable var first: Element? { count == 0 ? nil : storage[head] }

    /// The element `offset` places from the front; `offset` must be below `count`.
    @inlinable
    subscript(offset offset: Int) -> Element {
        precondition(offset >= 0 && offset < count, "ring buffer offset \(offset) out of 0..<\(count)")
        var index = head + offset
        if index >= storage.count { index -= storage.count }
        return storage[index]!
    }

    @inlinable
    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        var tail = head + count
        if tail >= storage.count { tail -= storage.count }
        storage[tail] = element
        count += 1
    }

    @inlinable
    mutating func prepend(_ element: Element) {
        if count == storage.count { grow() }
        head = head == 0 ? storage.count - 1 : head - 1
        storage[head] = element
        count += 1
    }

    @inlinable
    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head += 1
        if head == storage.count { head = 0 }
        count -= 1
        return element
    }

    /// Drops the elements for which `shouldRemove` holds and keeps the rest in order.
    @inlinable
    mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        var kept = RingBuffer()
        while let element = popFirst() {
            if !shouldRemove(element) { kept.append(element) }
        }
        self = kept
    }

    @usableFromInline
    mutating func grow() {
        let newCapacity = Swift.max(4, storage.count * 2)
        var newStorage = ContiguousArray<Element?>(repeating: nil, count: newCapacity)
        for offset in 0..<count {
            var index = head + offset
            if index >= storage.count { index -= storage.count }
            newStorage[offset] = storage[index].take()
        }
        storage = newStorage
        head = 0
    }
}

extension RingBuffer: Sendable where Element: Sendable {}
