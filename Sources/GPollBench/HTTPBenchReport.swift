import Foundation

/// Everything one HTTP run measured; `--json` prints it as one object.
package struct HTTPBenchReport: Codable, Sendable {
    // Settings.
    var pollURL: String
    var publishURL: String
    var clients: Int
    var messages: Int
    var size: Int
    var burst: Int?
    var rate: Double?
    var duration: Double?
    var clientBuffer: Int
    var threads: Int

    // Handshake phase.
    var handshakes: Int
    var handshakeFailures: Int
    var handshakeSeconds: Double
    var handshakesPerSecond: Double

    // Measurement phase.
    /// Messages published (and acknowledged 2xx).
    var published: Int
    var measurementSeconds: Double
    /// Unique deliveries during the measurement phase.
    var deliveries: UInt64
    var deliveriesPerSecond: Double
    var latencyMs: LatencySummary

    // Anomalies.
    /// Polls answered 204 (poll timeout, newest poll wins).
    var timeouts: Int
    var errors: Int
    var errorsByKind: [String: Int]
    /// Clients answered 404 although no more than B messages could be waiting for them.
    var clientsLost: Int
    /// Clients answered 404 that were far enough behind to have been evicted by the buffer rule.
    var clientsEvicted: Int
    /// Clients that were still polling when the bench stopped.
    var clientsAtEnd: Int
    /// Messages the clients still polling at the end never received.
    var missingDeliveries: UInt64
    var duplicates: Int
    var outOfOrder: Int
    /// 200 answers whose body was not a bench message.
    var foreignMessages: Int
    /// Waits for full delivery that hit --timeout, and the live clients still short then (summed).
    var burstsTimedOut: Int
    var stragglers: Int
    /// "messages" or "duration".
    var stoppedBy: String
    /// Why the run could not finish normally, if it could not.
    var failure: String?

    /// "gpoll" or "nchan" (for nchan a handshake is a connection, it has none).
    var protocolKind: String
    /// The server's CPU and memory, when --server-pid named it.
    var server: ServerUsage?

    /// Every client got every message exactly once, in order, and nothing failed.
    package var passed: Bool {
        failure == nil && errors == 0 && handshakeFailures == 0 && clientsLost == 0 && clientsEvicted == 0
            && missingDeliveries == 0 && duplicates == 0 && outOfOrder == 0 && foreignMessages == 0 && burstsTimedOut == 0
    }

    package func json() -> String {
        struct Wrapper: Encodable {
            let report: HTTPBenchReport
            func encode(to encoder: any Encoder) throws {
                try report.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(report.passed, forKey: Key(stringValue: "passed"))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = (try? encoder.encode(Wrapper(report: self))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    package func text() -> String {
        var lines: [String] = []
        let schedule = burst.map { "lock-step, burst \($0)" } ?? rate.map { "open loop, \(fmt($0)) messages/s" } ?? "?"
        lines.append("gpoll-bench http (\(protocolKind)): \(clients) clients, \(messages) messages of \(size) bytes, \(schedule)")
        lines.append("  poll URL     \(pollURL)")
        lines.append("  publish URL  \(publishURL)")
        lines.append("")
        lines.append("handshakes     \(handshakes) of \(clients) in \(fmt(handshakeSeconds)) s: \(fmt(handshakesPerSecond))/s")
        lines.append("published      \(published) in \(fmt(measurementSeconds)) s (stopped by \(stoppedBy))")
        lines.append("deliveries     \(deliveries): \(fmt(deliveriesPerSecond))/s")
        lines.append(String(format: "latency (ms)   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (mean %.2f, %llu samples)",
                            latencyMs.p50, latencyMs.p90, latencyMs.p99, latencyMs.p999, latencyMs.max, latencyMs.mean, latencyMs.count))
        lines.append("204 timeouts   \(timeouts)")
        lines.append("errors         \(errors)")
        for (kind, count) in errorsByKind.sorted(by: { $0.value > $1.value }) {
            lines.append("  \(count) × \(kind)")
        }
        lines.append("clients lost   \(clientsLost) (evicted by the buffer rule: \(clientsEvicted); polling at the end: \(clientsAtEnd))")
        lines.append("missing        \(missingDeliveries)   duplicates \(duplicates)   out of order \(outOfOrder)   foreign \(foreignMessages)")
        if burstsTimedOut > 0 {
            lines.append("timed out      \(burstsTimedOut) waits for full delivery, \(stragglers) straggling clients in sum")
        }
        if let server {
            lines.append("server CPU     \(server.cpuSeconds.map { fmt($0) } ?? "?") s in the measurement: \(server.cpuMicrosecondsPerDelivery.map { fmt($0) } ?? "?") µs per delivery")
            lines.append("machine        bench \(server.benchCPUSeconds.map { fmt($0) } ?? "?") s CPU; everything else \(server.otherCores.map { String(format: "%.2f", $0) } ?? "?") cores meanwhile")
            lines.append("server memory  \(server.memoryIdleKB.map(String.init) ?? "?") kB before connecting, \(server.memoryWaitingKB.map(String.init) ?? "? (no --hold)") kB with every poll waiting: \(server.bytesPerWaitingPoll.map { fmt($0) } ?? "?") bytes per waiting poll")
        }
        if let failure { lines.append("FAILED: \(failure)") }
        lines.append(passed ? "result         PASS: every client got every message exactly once, in order" : "result         FAIL")
        return lines.joined(separator: "\n")
    }
}

/// The server's resources as /proc shows them (``ServerProcessProbe``).
struct ServerUsage: Codable, Sendable {
    /// utime + stime of the server (and its child processes) from the first publish to the last delivery.
    var cpuSeconds: Double?
    /// The bench's own CPU in the same interval.
    var benchCPUSeconds: Double?
    /// What everything else on the machine used meanwhile, in cores (busy CPU from
    /// /proc/stat less server and bench, over the measurement's seconds).
    var otherCores: Double?
    var cpuMicrosecondsPerDelivery: Double?
    /// Pss before the first connection, and at the end of --hold with every poll waiting.
    var memoryIdleKB: Int?
    var memoryWaitingKB: Int?
    var bytesPerWaitingPoll: Double?
}

/// A number with thousands grouping and at most two decimals.
func fmt(_ value: Double) -> String {
    if value >= 1000 || value == value.rounded() {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        formatter.groupingSeparator = ","
        formatter.usesGroupingSeparator = true
        return formatter.string(from: NSNumber(value: value.rounded())) ?? String(Int(value))
    }
    return String(format: "%.2f", value)
}

private struct Key: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
