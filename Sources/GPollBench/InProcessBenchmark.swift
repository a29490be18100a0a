import Foundation
import GPollCore
import GPollServer
import NIOCore
import NIOPosix

/// The original's `Benchmark(msgSize, clients, numMsgs)`: N clients registered
/// in one ``GPollEndpoint`` of the reference server, no HTTP and no polls, and M
/// broadcasts timed one by one. Every broadcast appends the message to every
/// client's queue, so it measures the broadcaster's fan-out alone.
///
/// Nobody drains the queues, so M may not exceed B (``InProcessOptions/validate()``
/// refuses it, as the original does): message B+1 would evict every client.
package struct InProcessBenchmark: Sendable {
    let options: InProcessOptions

    package init(options: InProcessOptions) { self.options = options }

    package func run() throws -> InProcessReport {
        let configuration = BroadcasterConfiguration(
            clientBufferCapacity: options.clientBuffer,
            routineMaxClients: 1000,
            pollTimeout: nil,
            idleExpiry: nil,
            maxClients: nil
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let endpoint = try GPollEndpoint(path: "/bench", configuration: configuration, eventLoopGroup: group)

        let registerStart = NIODeadline.now()
        for _ in 0..<options.clients {
            guard case .registered = endpoint.register() else {
                throw BenchOptionsError("the endpoint refused a registration")
            }
        }
        let registerSeconds = Double((NIODeadline.now() - registerStart).nanoseconds) / 1e9

        var message = ByteBufferAllocator().buffer(capacity: options.size)
        message.writeRepeatingByte(UInt8(ascii: "x"), count: options.size)

        var times: [Double] = []
        times.reserveCapacity(options.messages)
        var queued = 0
        var evicted = 0
        var delivered = 0
        for _ in 0..<options.messages {
            let start = NIODeadline.now()
            let summary = endpoint.send(message)
            let end = NIODeadline.now()
            times.append(Double((end - start).nanoseconds) / 1e9)
            queued += summary.queued
            evicted += summary.evicted
            delivered += summary.delivered
        }
        let timing = TimingSummary(times)
        let enqueues = queued + delivered
        return InProcessReport(
            clients: options.clients,
            messages: options.messages,
            size: options.size,
            clientBuffer: options.clientBuffer,
            registerSeconds: registerSeconds,
            registrationsPerSecond: ratePerSecond(options.clients, seconds: registerSeconds),
            broadcastMs: TimingSummary.Milliseconds(timing),
            totalSeconds: timing.total,
            enqueues: enqueues,
            evictions: evicted,
            enqueuesPerSecond: ratePerSecond(enqueues, seconds: timing.total)
        )
    }
}

/// What the in-process benchmark measured.
package struct InProcessReport: Codable, Sendable {
    var clients: Int
    var messages: Int
    var size: Int
    var clientBuffer: Int
    var registerSeconds: Double
    var registrationsPerSecond: Double
    /// Time per broadcast in milliseconds.
    var broadcastMs: TimingSummary.Milliseconds
    /// Sum of the broadcast times in seconds.
    var totalSeconds: Double
    /// Client enqueues: one per client per broadcast.
    var enqueues: Int
    var evictions: Int
    var enqueuesPerSecond: Double

    package var passed: Bool { evictions == 0 && enqueues == clients * messages }

    package func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    package func text() -> String {
        [
            "gpoll-bench in-process: \(clients) clients, \(messages) broadcasts of \(size) bytes, client buffer \(clientBuffer)",
            "registration   \(fmt(registrationsPerSecond)) clients/s (\(String(format: "%.3f", registerSeconds)) s)",
            String(format: "broadcast (ms) min %.3f  median %.3f  p99 %.3f  max %.3f", broadcastMs.min, broadcastMs.median, broadcastMs.p99, broadcastMs.max),
            String(format: "total          %.6f s for %d broadcasts", totalSeconds, messages),
            "enqueues       \(enqueues): \(fmt(enqueuesPerSecond))/s (evictions \(evictions))",
        ].joined(separator: "\n")
    }
}

extension TimingSummary {
    /// A summary of seconds, shown in milliseconds.
    struct Milliseconds: Codable, Hashable, Sendable {
        var min: Double
        var median: Double
        var p99: Double
        var max: Double

        init(_ seconds: TimingSummary) {
            min = seconds.min * 1e3
            median = seconds.median * 1e3
            p99 = seconds.p99 * 1e3
            max = seconds.max * 1e3
        }
    }
}
