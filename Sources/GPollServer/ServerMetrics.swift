import CoreMetrics
import GPollCore
import NIOCore
import Prometheus

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an endpoint's and a server's metrics go: a swift-metrics factory, and the
/// Prometheus registry that the admin listener's `GET /metrics` shows (if any).
///
/// Every metric object is made once, when its endpoint or server is made, never per
/// request; counting is then an atomic add (the publish latency histogram takes
/// the registry's lock once per publish, not per delivery).
///
/// - ``system``: `MetricsSystem.factory`, whatever the process bootstrapped. When
///   that is a `PrometheusMetricsFactory`, `/metrics` shows its registry.
/// - ``prometheus(_:)``: a registry of its own (one per server in tests, so counts
///   start at zero and never depend on the process-wide bootstrap).
public struct GPollMetrics: Sendable {
    public let factory: any MetricsFactory
    /// What `GET /metrics` answers with; nil: that path answers 404.
    public let registry: PrometheusCollectorRegistry?

    public init(factory: any MetricsFactory, exposing registry: PrometheusCollectorRegistry?) {
        self.factory = factory
        self.registry = registry
    }

    /// The process-wide `MetricsSystem.factory` (a no-op one unless the process bootstrapped one).
    public static var system: GPollMetrics {
        let factory = MetricsSystem.factory
        return GPollMetrics(factory: factory, exposing: (factory as? PrometheusMetricsFactory)?.registry)
    }

    /// No metrics at all; `/metrics` answers 404.
    public static let disabled = GPollMetrics(factory: NOOPMetricsHandler.instance, exposing: nil)

    /// Metrics into `registry`, shown at `/metrics`.
    public static func prometheus(_ registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) -> GPollMetrics {
        GPollMetrics(factory: prometheusFactory(registry: registry), exposing: registry)
    }

    /// A `PrometheusMetricsFactory` with buckets that suit gpoll's histograms; an
    /// executable bootstraps `MetricsSystem` with it and then uses ``system``.
    public static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        // A publish takes a lock and hands each waiting poll to its event loop: tens
        // of microseconds for a few clients, milliseconds for tens of thousands.
        factory.durationHistogramBuckets[MetricName.publishDuration] = [
            .microseconds(10), .microseconds(50), .microseconds(100), .microseconds(500),
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50),
            .milliseconds(100), .milliseconds(500), .seconds(1),
        ]
        return factory
    }
}

/// The metric names, in Prometheus' conventions (README lists them with their labels).
enum MetricName {
    static let clients = "gpoll_clients"
    static let waitingPolls = "gpoll_waiting_polls"
    static let handshakes = "gpoll_handshakes_total"
    static let refusedHandshakes = "gpoll_handshakes_refused_total"
    static let deliveries = "gpoll_deliveries_total"
    static let deliveredBytes = "gpoll_delivered_bytes_total"
    static let noContent = "gpoll_polls_no_content_total"
    static let notFound = "gpoll_polls_not_found_total"
    static let evictions = "gpoll_evictions_total"
    static let publishes = "gpoll_publishes_total"
    static let publishDuration = "gpoll_publish_duration_seconds"
    static let openConnections = "gpoll_open_connections"
    static let connections = "gpoll_connections_total"
    static let connectionErrors = "gpoll_connection_errors_total"
    static let ready = "gpoll_ready"
    static let openFileDescriptors = "process_open_fds"
    static let maximumFileDescriptors = "process_max_fds"
}

/// One endpoint's metrics, labelled `endpoint="<path>"`. The endpoint calls one
/// method per event, with what its state machine decided.
final class EndpointMetrics: Sendable {
    private let handshakes: CoreMetrics.Counter
    private let refusedHandshakes: CoreMetrics.Counter
    private let deliveries: CoreMetrics.Counter
    private let deliveredBytes: CoreMetrics.Counter
    private let timedOut: CoreMetrics.Counter
    private let superseded: CoreMetrics.Counter
    private let releasedAtShutdown: CoreMetrics.Counter
    private let notFoundUnknown: CoreMetrics.Counter
    private let notFoundEvicted: CoreMetrics.Counter
    private let notFoundExpired: CoreMetrics.Counter
    private let bufferEvictions: CoreMetrics.Counter
    private let idleEvictions: CoreMetrics.Counter
    private let shutdownEvictions: CoreMetrics.Counter
    private let publishes: CoreMetrics.Counter
    private let publishDuration: CoreMetrics.Timer
    private let clients: CoreMetrics.Gauge
    private let waitingPolls: CoreMetrics.Gauge

    init(path: String, metrics: GPollMetrics) {
        let factory = metrics.factory
        let endpoint = [("endpoint", path)]
        func counter(_ name: String, _ extra: [(String, String)] = []) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: name, dimensions: endpoint + extra, factory: factory)
        }
        handshakes = counter(MetricName.handshakes)
        refusedHandshakes = counter(MetricName.refusedHandshakes)
        deliveries = counter(MetricName.deliveries)
        deliveredBytes = counter(MetricName.deliveredBytes)
        timedOut = counter(MetricName.noContent, [("cause", "timeout")])
        superseded = counter(MetricName.noContent, [("cause", "superseded")])
        releasedAtShutdown = counter(MetricName.noContent, [("cause", "shutdown")])
        notFoundUnknown = counter(MetricName.notFound, [("reason", GPollReason.unknown.rawValue)])
        notFoundEvicted = counter(MetricName.notFound, [("reason", GPollReason.evicted.rawValue)])
        notFoundExpired = counter(MetricName.notFound, [("reason", GPollReason.expired.rawValue)])
        bufferEvictions = counter(MetricName.evictions, [("cause", "buffer")])
        idleEvictions = counter(MetricName.evictions, [("cause", "idle")])
        shutdownEvictions = counter(MetricName.evictions, [("cause", "shutdown")])
        publishes = counter(MetricName.publishes)
        publishDuration = CoreMetrics.Timer(label: MetricName.publishDuration, dimensions: endpoint, factory: factory)
        clients = CoreMetrics.Gauge(label: MetricName.clients, dimensions: endpoint, factory: factory)
        waitingPolls = CoreMetrics.Gauge(label: MetricName.waitingPolls, dimensions: endpoint, factory: factory)
    }

    func handshake(_ result: RegistrationResult) {
        switch result {
        case .registered: handshakes.increment()
        case .refused: refusedHandshakes.increment()
        }
    }

    /// A publish that began at `start` (uptime nanoseconds) and has been offered to every client.
    func published(delivered count: Int, evicted: Int, bytes: Int, since start: UInt64) {
        publishes.increment()
        delivered(count, bytes: bytes)
        if evicted > 0 { bufferEvictions.increment(by: evicted) }
        publishDuration.recordNanoseconds(Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds &- start))
    }

    /// What a poll got from the state machine: a message now, a wait (perhaps ending
    /// an older poll of that client with 204), or a 404.
    func polled(_ outcome: PollEventOutcome) {
        switch outcome {
        case .delivered(let bytes): delivered(1, bytes: bytes)
        case .notFound(let reason): notFound(reason)
        case .badAcknowledgement: break
        case .waiting(let supersededOlder): if supersededOlder { superseded.increment() }
        // A poll that came during shutdown: answered 204 at once.
        case .endedForShutdown: releasedAtShutdown.increment()
        }
    }

    /// `count` messages of `bytes` bytes each handed to waiting polls. A message
    /// whose write fails goes back to its queue and counts again when handed out again.
    func delivered(_ count: Int, bytes: Int) {
        guard count > 0 else { return }
        deliveries.increment(by: count)
        deliveredBytes.increment(by: count * bytes)
    }

    func notFound(_ reason: GPollReason) {
        switch reason {
        case .unknown: notFoundUnknown.increment()
        case .evicted: notFoundEvicted.increment()
        case .expired: notFoundExpired.increment()
        default: break  // malformed is a 400's reason, not a 404's
        }
    }

    /// The expiry timer's work: polls that reached T (204) and clients idle for E (evicted).
    func expired(timedOutPolls: Int, idleClients: Int) {
        if timedOutPolls > 0 { timedOut.increment(by: timedOutPolls) }
        if idleClients > 0 { idleEvictions.increment(by: idleClients) }
    }

    /// Shutdown began: its waiting polls get 204, and the clients it held end with the service.
    func shutDown(releasedPolls: Int, clients: Int) {
        if releasedPolls > 0 { releasedAtShutdown.increment(by: releasedPolls) }
        if clients > 0 { shutdownEvictions.increment(by: clients) }
    }

    /// The gauges, read when metrics are shown rather than kept on every change.
    func sample(clients: Int, waitingPolls: Int) {
        self.clients.record(clients)
        self.waitingPolls.record(waitingPolls)
    }
}

/// The connections of one listener (`listener="gpoll"` or `"admin"`): open now,
/// accepted in all, and those that ended in an I/O error (a peer that vanished, a
/// TLS failure), which are counted here rather than logged one by one.
final class ConnectionMetrics: Sendable {
    private let open: CoreMetrics.Meter
    private let accepted: CoreMetrics.Counter
    private let errors: CoreMetrics.Counter

    init(listener: String, metrics: GPollMetrics) {
        let dimensions = [("listener", listener)]
        open = CoreMetrics.Meter(label: MetricName.openConnections, dimensions: dimensions, factory: metrics.factory)
        accepted = CoreMetrics.Counter(label: MetricName.connections, dimensions: dimensions, factory: metrics.factory)
        errors = CoreMetrics.Counter(label: MetricName.connectionErrors, dimensions: dimensions, factory: metrics.factory)
    }

    func opened() {
        accepted.increment()
        open.increment()
    }

    func closed() { open.decrement() }

    func error() { errors.increment() }
}

/// The process figures shown with the endpoints' metrics: readiness, and file
/// descriptors against their limit (every waiting poll holds one).
final class ProcessMetrics: Sendable {
    private let ready: CoreMetrics.Gauge
    private let openFileDescriptors: CoreMetrics.Gauge
    private let maximumFileDescriptors: CoreMetrics.Gauge

    init(metrics: GPollMetrics) {
        ready = CoreMetrics.Gauge(label: MetricName.ready, factory: metrics.factory)
        openFileDescriptors = CoreMetrics.Gauge(label: MetricName.openFileDescriptors, factory: metrics.factory)
        maximumFileDescriptors = CoreMetrics.Gauge(label: MetricName.maximumFileDescriptors, factory: metrics.factory)
    }

    func sample(ready: Bool) {
        self.ready.record(ready ? 1 : 0)
        if let open = FileDescriptorLimit.openCount() { openFileDescriptors.record(open) }
        if let limit = FileDescriptorLimit.softLimit() { maximumFileDescriptors.record(Int64(clamping: limit)) }
    }
}
