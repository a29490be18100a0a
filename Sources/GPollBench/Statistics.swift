import Histogram

/// Publish-to-delivery latencies, recorded in nanoseconds in an HdrHistogram
/// (3 significant digits, 1 µs to 1 hour; larger values are clamped to the top).
struct LatencyRecorder: Sendable {
    private(set) var histogram: Histogram<UInt64>
    /// Values above the trackable range, clamped.
    private(set) var clamped: UInt64 = 0

    static let highestTrackable: UInt64 = 3_600_000_000_000

    init() {
        histogram = Histogram(lowestDiscernibleValue: 1_000, highestTrackableValue: Self.highestTrackable, numberOfSignificantValueDigits: .three)
    }

    mutating func record(nanoseconds: UInt64) {
        var value = Swift.max(nanoseconds, 1_000)
        if value > Self.highestTrackable { value = Self.highestTrackable; clamped += 1 }
        _ = histogram.record(value)
    }

    mutating func add(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
        clamped += other.clamped
    }

    var count: UInt64 { histogram.totalCount }

    /// p50/p90/p99/p99.9/max in milliseconds; all zero if nothing was recorded.
    var summary: LatencySummary {
        guard histogram.totalCount > 0 else { return LatencySummary(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0) }
        func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }
        return LatencySummary(
            count: histogram.totalCount,
            p50: ms(histogram.valueAtPercentile(50)),
            p90: ms(histogram.valueAtPercentile(90)),
            p99: ms(histogram.valueAtPercentile(99)),
            p999: ms(histogram.valueAtPercentile(99.9)),
            max: ms(histogram.max),
            mean: histogram.mean / 1e6
        )
    }
}

/// Latency percentiles in milliseconds.
struct LatencySummary: Codable, Hashable, Sendable {
    var count: UInt64
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double
    var mean: Double
}

/// Min, median, p99 and max of a list of durations (nearest-rank percentiles, exact).
struct TimingSummary: Codable, Hashable, Sendable {
    var count: Int
    var min: Double
    var median: Double
    var p99: Double
    var max: Double
    var total: Double

    /// `values` in any unit; the summary is in the same unit. Empty input gives zeros.
    init(_ values: [Double]) {
        let sorted = values.sorted()
        count = sorted.count
        total = sorted.reduce(0, +)
        guard let first = sorted.first, let last = sorted.last else {
            min = 0; median = 0; p99 = 0; max = 0
            return
        }
        min = first
        max = last
        median = Self.nearestRank(sorted, percentile: 50)
        p99 = Self.nearestRank(sorted, percentile: 99)
    }

    /// The nearest-rank percentile of sorted, non-empty values: the smallest value
    /// with at least `percentile`% of the values at or below it.
    static func nearestRank(_ sorted: [Double], percentile: Double) -> Double {
        precondition(!sorted.isEmpty)
        let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }
}

/// Events per second; 0 when no time passed.
func ratePerSecond(_ count: some BinaryInteger, seconds: Double) -> Double {
    seconds > 0 ? Double(count) / seconds : 0
}
