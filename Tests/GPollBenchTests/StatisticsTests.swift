@testable import GPollBench
import NIOCore
import Testing

@Suite("Statistics")
struct StatisticsTests {
    @Test("Nearest-rank percentiles of 1...100")
    func nearestRank() {
        let values = (1...100).map(Double.init)
        #expect(TimingSummary.nearestRank(values, percentile: 50) == 50)
        #expect(TimingSummary.nearestRank(values, percentile: 99) == 99)
        #expect(TimingSummary.nearestRank(values, percentile: 100) == 100)
        #expect(TimingSummary.nearestRank(values, percentile: 0) == 1)
        #expect(TimingSummary.nearestRank([7], percentile: 99) == 7)
    }

    @Test("Timer list summary: min, median, p99, max, total, in any order")
    func timingSummary() {
        let summary = TimingSummary([5, 1, 4, 2, 3])
        #expect(summary.count == 5)
        #expect(summary.min == 1)
        #expect(summary.median == 3)
        #expect(summary.p99 == 5)
        #expect(summary.max == 5)
        #expect(summary.total == 15)

        let thousand = TimingSummary((1...1000).reversed().map(Double.init))
        #expect(thousand.median == 500)
        #expect(thousand.p99 == 990)
        #expect(thousand.max == 1000)

        let empty = TimingSummary([])
        #expect(empty.count == 0 && empty.min == 0 && empty.max == 0)
    }

    @Test("Milliseconds view of a seconds summary")
    func milliseconds() {
        let ms = TimingSummary.Milliseconds(TimingSummary([0.001, 0.002, 0.003]))
        #expect(abs(ms.min - 1) < 1e-9 && abs(ms.median - 2) < 1e-9 && abs(ms.max - 3) < 1e-9)
    }

    @Test("Latency histogram: percentiles in ms within HdrHistogram's 3-digit precision")
    func latencyPercentiles() {
        var recorder = LatencyRecorder()
        // 1 ms ... 1000 ms, one sample each.
        for ms in 1...1000 { recorder.record(nanoseconds: UInt64(ms) * 1_000_000) }
        let summary = recorder.summary
        #expect(summary.count == 1000)
        func near(_ value: Double, _ expected: Double) -> Bool { abs(value - expected) <= expected * 0.002 }
        #expect(near(summary.p50, 500))
        #expect(near(summary.p90, 900))
        #expect(near(summary.p99, 990))
        #expect(near(summary.p999, 999))
        #expect(near(summary.max, 1000))
    }

    @Test("Merging per-loop histograms adds their counts")
    func merging() {
        var a = LatencyRecorder()
        var b = LatencyRecorder()
        for _ in 0..<10 { a.record(nanoseconds: 2_000_000) }
        for _ in 0..<30 { b.record(nanoseconds: 4_000_000) }
        a.add(b)
        #expect(a.count == 40)
        #expect(abs(a.summary.p50 - 4) < 0.01)
        #expect(LatencyRecorder().summary.count == 0)
    }

    @Test("Rates")
    func rates() {
        #expect(ratePerSecond(100, seconds: 2) == 50)
        #expect(ratePerSecond(0, seconds: 1) == 0)
        #expect(ratePerSecond(10, seconds: 0) == 0)
    }

    @Test("Message stamp round trip, padding and foreign bodies")
    func stamp() {
        var buffer = MessageStamp.template(size: 64)
        #expect(buffer.readableBytes == 64)
        MessageStamp(sequence: 42, sentAtNanoseconds: 123_456_789).write(into: &buffer)
        #expect(MessageStamp.read(buffer) == MessageStamp(sequence: 42, sentAtNanoseconds: 123_456_789))
        #expect(buffer.getInteger(at: 63, as: UInt8.self) == MessageStamp.padding)
        #expect(MessageStamp.read(ByteBuffer(string: "hello, this is not a bench message")) == nil)
        #expect(MessageStamp.read(ByteBuffer(string: "short")) == nil)
    }
}
