/// Where new client uuids come from. Injectable so that tests can issue known
/// ids; production uses ``SecureUUIDSource``.
public protocol UUIDSource: Sendable {
    mutating func nextUUID() -> UUIDv4
}

/// 122 bits from the system's cryptographically secure generator, as Spec
/// requires of issued ids: on Linux `SystemRandomNumberGenerator` reads
/// `getrandom(2)`, on Apple platforms `arc4random_buf`.
public struct SecureUUIDSource: UUIDSource {
    public init() {}

    public mutating func nextUUID() -> UUIDv4 {
        var generator = SystemRandomNumberGenerator()
        return UUIDv4(randomHigh: generator.next(), randomLow: generator.next())
    }
}

/// Predictable uuids for tests: a counter, version and variant bits set.
/// Never use it in a server: its ids are guessable by design.
public struct SequentialUUIDSource: UUIDSource {
    public private(set) var issued: UInt64

    public init(startingAt first: UInt64 = 1) { issued = first &- 1 }

    public mutating func nextUUID() -> UUIDv4 {
        issued &+= 1
        return UUIDv4(randomHigh: issued << 16, randomLow: issued)
    }
}
