import NIOCore

/// The header at the start of every message the bench publishes: a magic
/// number, the sequence number, and the publish send time (monotonic
/// nanoseconds of the bench process), big-endian; the rest is padding.
struct MessageStamp: Hashable, Sendable {
    var sequence: UInt64
    var sentAtNanoseconds: UInt64

    init(sequence: UInt64, sentAtNanoseconds: UInt64) {
        self.sequence = sequence
        self.sentAtNanoseconds = sentAtNanoseconds
    }

    /// "gpb" and format version 1.
    static let magic: UInt32 = 0x6770_6201
    /// Magic (4) + sequence (8) + send time (8).
    static let byteCount = 20
    /// The padding byte after the header.
    static let padding = UInt8(ascii: ".")

    /// A message of `size` bytes (at least ``byteCount``) whose header is to be filled by ``write(into:)``.
    static func template(size: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        precondition(size >= byteCount)
        var buffer = allocator.buffer(capacity: size)
        buffer.writeInteger(magic)
        buffer.writeInteger(UInt64(0))
        buffer.writeInteger(UInt64(0))
        buffer.writeRepeatingByte(padding, count: size - byteCount)
        return buffer
    }

    /// Overwrites the header of a message made by ``template(size:allocator:)``.
    func write(into buffer: inout ByteBuffer) {
        let start = buffer.readerIndex
        buffer.setInteger(sequence, at: start + 4)
        buffer.setInteger(sentAtNanoseconds, at: start + 12)
    }

    /// Reads the header of a received message; nil if it is not one of the bench's.
    static func read(_ buffer: ByteBuffer) -> MessageStamp? {
        guard buffer.readableBytes >= byteCount else { return nil }
        let start = buffer.readerIndex
        guard buffer.getInteger(at: start, as: UInt32.self) == magic,
              let sequence = buffer.getInteger(at: start + 4, as: UInt64.self),
              let sent = buffer.getInteger(at: start + 12, as: UInt64.self)
        else { return nil }
        return MessageStamp(sequence: sequence, sentAtNanoseconds: sent)
    }
}
