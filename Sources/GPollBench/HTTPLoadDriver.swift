import Foundation
import GPollWire
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Drives a gpoll endpoint over HTTP: a handshake phase (every client connects
/// and registers, with bounded concurrency), then a measurement phase (publish
/// in lock-step bursts or at a fixed rate while every client keeps one poll in
/// flight), then it closes every connection and reports.
package final class HTTPLoadDriver: Sendable {
    let configuration: HTTPBenchConfiguration
    /// Where a progress line goes about once a second; nil for none.
    private let progress: (@Sendable (String) -> Void)?

    package init(configuration: HTTPBenchConfiguration, progress: (@Sendable (String) -> Void)? = nil) {
        self.configuration = configuration
        self.progress = progress
    }

    /// The phase the progress line shows.
    private enum Phase: Int { case handshaking = 0, measuring = 1, draining = 2, closing = 3 }

    package func run() async throws -> HTTPBenchReport {
        let config = configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.threads)
        do {
            let report = try await run(on: group)
            try? await group.shutdownGracefully()
            return report
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(on group: MultiThreadedEventLoopGroup) async throws -> HTTPBenchReport {
        let config = configuration
        let counters = RunCounters()
        let gate = DeliveryGate()
        var tallies: [ObjectIdentifier: LoopTally] = [:]
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() {
            loops.append(loop)
            tallies[ObjectIdentifier(loop)] = LoopTally()
        }
        let talliesByLoop = tallies
        let sslContext = try Self.makeSSLContext(config)
        let channels = ChannelList()
        let timeout = TimeAmount.nanoseconds(Int64(config.timeout * 1e9))

        let runStart = NIODeadline.now()
        let progressTask = progress.map { emit in
            Task {
                var lastDelivered: UInt64 = 0
                var lastHandshakes = 0
                var last = NIODeadline.now()
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    if Task.isCancelled { break }
                    let now = NIODeadline.now()
                    let seconds = Double((now - last).nanoseconds) / 1e9
                    last = now
                    let delivered = gate.totalDeliveries
                    let handshakes = counters.handshakes.load(ordering: .relaxed)
                    let elapsed = Double((now - runStart).nanoseconds) / 1e9
                    var line = String(format: "[%6.1fs] ", elapsed)
                    switch Phase(rawValue: counters.phase.load(ordering: .relaxed)) ?? .closing {
                    case .handshaking:
                        line += "handshakes \(handshakes)/\(config.clients) (\(Int(ratePerSecond(handshakes - lastHandshakes, seconds: seconds)))/s)"
                    case .measuring, .draining:
                        line += "published \(counters.publishedCount.load(ordering: .relaxed))/\(config.messages), deliveries \(delivered) (\(Int(ratePerSecond(delivered - lastDelivered, seconds: seconds)))/s), live clients \(gate.liveClients)"
                    case .closing:
                        line += "closing connections"
                    }
                    line += ", 204s \(counters.timeouts.load(ordering: .relaxed)), errors \(counters.errorCount), lost \(counters.lost.load(ordering: .relaxed))"
                    lastDelivered = delivered
                    lastHandshakes = handshakes
                    emit(line)
                }
            }
        }
        defer { progressTask?.cancel() }

        // Handshake phase.
        let pollURL = config.pollURL
        let makeBootstrap: @Sendable () -> ClientBootstrap = {
            Self.bootstrap(group: group, url: pollURL, sslContext: sslContext, timeout: timeout) { channel in
                channels.append(channel)
            }
        }
        let probe = config.serverPID.map { ServerProcessProbe(pid: $0) }
        let memoryIdleKB = probe?.memoryKB()
        let handshakeStart = NIODeadline.now()
        try await Self.connectAll(
            count: config.clients, concurrency: config.connectConcurrency, loop: loops[0], makeBootstrap: makeBootstrap,
            url: pollURL, counters: counters
        ) { channel, done in
            let tally = talliesByLoop[ObjectIdentifier(channel.eventLoop)]!
            return PollClientHandler(
                url: pollURL, protocolKind: config.protocolKind, clientBuffer: config.clientBuffer, counters: counters, gate: gate, tally: tally,
                handshakeTimeout: timeout, handshakeDone: done
            )
        }
        let handshakeSeconds = Double((NIODeadline.now() - handshakeStart).nanoseconds) / 1e9
        let handshakes = counters.handshakes.load(ordering: .relaxed)

        var memoryWaitingKB: Int?
        if config.hold > 0 && handshakes > 0 {
            progress?("all \(handshakes) clients registered and polling; holding \(config.hold) s before publishing")
            try? await Task.sleep(for: .nanoseconds(Int64(config.hold * 1e9)))
            // Every poll has had the hold to arrive and wait: the server's memory now is its cost.
            memoryWaitingKB = probe?.memoryKB()
        }

        // Measurement phase.
        var measurement = Measurement()
        var failure: String?
        var serverCPUSeconds: Double?
        var machineBusySeconds: Double?
        var benchCPUSeconds: Double?
        if handshakes > 0 {
            counters.phase.store(Phase.measuring.rawValue, ordering: .relaxed)
            do {
                let publisher = try await Publisher.connect(
                    url: config.publishURL, client: try Self.publishClient(config, group: group),
                    extraHeaders: config.publishHeaders, size: config.size, counters: counters, timeout: timeout)
                let cpuBefore = probe?.cpuSeconds()
                let machineBefore = ServerProcessProbe.machineBusySeconds()
                let benchBefore = ServerProcessProbe.ownCPUSeconds()
                measurement = await measure(
                    publisher: publisher, gate: gate, counters: counters, timeout: timeout, timerLoop: loops[0]
                ) { target in
                    // Live clients with fewer than `target` messages, asked on their own loops.
                    var stragglers = 0
                    for loop in loops {
                        let tally = talliesByLoop[ObjectIdentifier(loop)]!
                        stragglers += (try? await loop.submit {
                            tally.clients.reduce(0) { $0 + ($1.isLive && $1.received < target ? 1 : 0) }
                        }.get()) ?? 0
                    }
                    return stragglers
                }
                if let cpuBefore, let cpuAfter = probe?.cpuSeconds() { serverCPUSeconds = cpuAfter - cpuBefore }
                if let machineBefore, let machineAfter = ServerProcessProbe.machineBusySeconds() {
                    machineBusySeconds = machineAfter - machineBefore
                }
                benchCPUSeconds = ServerProcessProbe.ownCPUSeconds() - benchBefore
                await publisher.close()
                failure = measurement.failure
            } catch {
                failure = "cannot connect to the publish URL: \(BenchErrorKind.describe(error))"
            }
        } else {
            failure = "no client completed its handshake"
        }

        // Close everything, then read the tallies.
        counters.phase.store(Phase.closing.rawValue, ordering: .relaxed)
        counters.stopping.store(true, ordering: .sequentiallyConsistent)
        let open = channels.all
        for channel in open { channel.close(promise: nil) }
        for channel in open { try? await channel.closeFuture.get() }
        progressTask?.cancel()

        let publishedCount = UInt64(measurement.published)
        var latency = LatencyRecorder()
        var missing: UInt64 = 0
        var liveAtEnd = 0
        for loop in loops {
            let tally = talliesByLoop[ObjectIdentifier(loop)]!
            let (recorder, lacking, live) = try await loop.submit { () -> (LatencyRecorder, UInt64, Int) in
                var lacking: UInt64 = 0
                var live = 0
                for client in tally.clients where client.isLive {
                    live += 1
                    lacking += client.missing(of: publishedCount)
                }
                return (tally.latency, lacking, live)
            }.get()
            latency.add(recorder)
            missing += lacking
            liveAtEnd += live
        }
        // Clients were closed by us, so "live" above means live until the end.
        let deliveries = measurement.deliveries
        return HTTPBenchReport(
            pollURL: config.pollURL.description,
            publishURL: config.publishURL.description,
            clients: config.clients,
            messages: config.messages,
            size: config.size,
            burst: { if case .burst(let k) = config.schedule { k } else { nil } }(),
            rate: { if case .rate(let r) = config.schedule { r } else { nil } }(),
            duration: config.duration,
            clientBuffer: config.clientBuffer,
            threads: config.threads,
            handshakes: handshakes,
            handshakeFailures: config.clients - handshakes,
            handshakeSeconds: handshakeSeconds,
            handshakesPerSecond: ratePerSecond(handshakes, seconds: handshakeSeconds),
            published: measurement.published,
            measurementSeconds: measurement.seconds,
            deliveries: deliveries,
            deliveriesPerSecond: ratePerSecond(deliveries, seconds: measurement.seconds),
            latencyMs: latency.summary,
            timeouts: counters.timeouts.load(ordering: .relaxed),
            errors: counters.errorCount,
            errorsByKind: counters.errors,
            clientsLost: counters.lost.load(ordering: .relaxed),
            clientsEvicted: counters.evicted.load(ordering: .relaxed),
            clientsAtEnd: liveAtEnd,
            missingDeliveries: missing,
            duplicates: counters.duplicates.load(ordering: .relaxed),
            outOfOrder: counters.outOfOrder.load(ordering: .relaxed),
            foreignMessages: counters.foreign.load(ordering: .relaxed),
            burstsTimedOut: measurement.burstsTimedOut,
            stragglers: measurement.stragglers,
            stoppedBy: measurement.stoppedBy,
            failure: failure,
            protocolKind: config.protocolKind.rawValue,
            server: probe.map { _ in
                ServerUsage(
                    cpuSeconds: serverCPUSeconds,
                    benchCPUSeconds: benchCPUSeconds,
                    otherCores: machineBusySeconds.flatMap { busy in
                        serverCPUSeconds.flatMap { server in
                            benchCPUSeconds.map { bench in
                                measurement.seconds > 0 ? max(0, busy - server - bench) / measurement.seconds : 0
                            }
                        }
                    },
                    cpuMicrosecondsPerDelivery: serverCPUSeconds.flatMap { deliveries > 0 ? $0 * 1e6 / Double(deliveries) : nil },
                    memoryIdleKB: memoryIdleKB,
                    memoryWaitingKB: memoryWaitingKB,
                    bytesPerWaitingPoll: memoryIdleKB.flatMap { idle in
                        memoryWaitingKB.map { waiting in handshakes > 0 ? Double(waiting - idle) * 1024 / Double(handshakes) : 0 }
                    }
                )
            }
        )
    }

    struct Measurement {
        var published = 0
        var seconds: Double = 0
        var deliveries: UInt64 = 0
        var burstsTimedOut = 0
        var stragglers = 0
        var stoppedBy = "messages"
        var failure: String?
    }

    private func measure(
        publisher: Publisher,
        gate: DeliveryGate, counters: RunCounters, timeout: TimeAmount, timerLoop: any EventLoop,
        countStragglers: (UInt64) async -> Int
    ) async -> Measurement {
        let config = configuration
        var result = Measurement()
        let start = NIODeadline.now()
        let startDeliveries = gate.totalDeliveries
        let deadline = config.duration.map { start + .nanoseconds(Int64($0 * 1e9)) }
        let answerWait = Duration.nanoseconds(timeout.nanoseconds)

        /// Why an answer ends the run, nil for a 2xx.
        func problem(status: Int) -> String? {
            guard !(200..<300).contains(status) else { return nil }
            counters.error("publish answered \(status)")
            return "the publish URL answered \(status)"
        }
        func problem(error: any Error) -> String {
            counters.error("publish: \(BenchErrorKind.describe(error))")
            return "publishing failed: \(BenchErrorKind.describe(error))"
        }

        switch config.schedule {
        case .burst(let k):
            var next = 0
            burst: while next < config.messages {
                if let deadline, NIODeadline.now() >= deadline { result.stoppedBy = "duration"; break }
                let count = min(k, config.messages - next)
                do {
                    // The whole burst goes out pipelined, then its answers are read in order.
                    for i in 0..<count { try await publisher.publish(sequence: UInt64(next + i)) }
                    for _ in 0..<count {
                        if let problem = problem(status: try await publisher.nextStatus(within: answerWait)) {
                            result.failure = problem
                            break burst
                        }
                    }
                } catch {
                    result.failure = problem(error: error)
                    break
                }
                next += count
                result.published = next
                counters.publishedCount.store(next, ordering: .relaxed)
                if !(await gate.wait(forTarget: UInt64(next), timeout: timeout, timerLoop: timerLoop)) {
                    // Clients a server stopped serving would make every later burst wait
                    // --timeout too (a run of hundreds of bursts then seems to hang): the
                    // run is failed already, so it stops here.
                    let short = await countStragglers(UInt64(next))
                    result.burstsTimedOut += 1
                    result.stragglers += short
                    result.failure = "\(short) live clients did not get message \(next) within --timeout (\(config.timeout) s); the run stops there"
                    break
                }
                if gate.liveClients == 0 { result.failure = "every client was lost"; break }
            }
        case .rate(let perSecond):
            // Every millisecond: publish what is due by now, and take the answers that are in.
            let total = config.messages
            let tickStart = NIODeadline.now()
            var sent = 0, acknowledged = 0
            var failed: String?
            var timeIsUp = false
            while true {
                let now = NIODeadline.now()
                timeIsUp = deadline.map { now >= $0 } ?? false
                if !timeIsUp && failed == nil {
                    let due = min(total, Int(Double((now - tickStart).nanoseconds) / 1e9 * perSecond) + 1)
                    do {
                        while sent < due {
                            try await publisher.publish(sequence: UInt64(sent))
                            sent += 1
                            counters.publishedCount.store(sent, ordering: .relaxed)
                        }
                    } catch {
                        failed = failed ?? problem(error: error)
                    }
                }
                let allSent = sent >= total || timeIsUp || failed != nil
                do {
                    while failed == nil && acknowledged < sent {
                        // Once all is sent, wait for the rest; before that, only take what is in.
                        guard let status = allSent ? try await publisher.nextStatus(within: answerWait)
                                                   : try await publisher.readyStatus() else { break }
                        if let problem = problem(status: status) { failed = problem } else { acknowledged += 1 }
                    }
                } catch {
                    failed = failed ?? problem(error: error)
                }
                if allSent && (acknowledged == sent || failed != nil) { break }
                try? await Task.sleep(for: .milliseconds(1))
            }
            result.published = sent
            if let failed { result.failure = failed } else if timeIsUp && sent < total { result.stoppedBy = "duration" }
            counters.phase.store(Phase.draining.rawValue, ordering: .relaxed)
            if !(await gate.wait(forTarget: UInt64(sent), timeout: timeout, timerLoop: timerLoop)) {
                result.burstsTimedOut += 1
                result.stragglers += await countStragglers(UInt64(sent))
            }
        }
        result.seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
        result.deliveries = gate.totalDeliveries - startDeliveries
        return result
    }

    // MARK: Connections

    static func makeSSLContext(_ config: HTTPBenchConfiguration) throws -> NIOSSLContext? {
        guard config.pollURL.tls || config.publishURL.tls else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let path = config.caCertificatePath {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw BenchOptionsError("cannot read --ca-cert '\(path)': \(error)")
            }
        }
        if config.insecure { tls.certificateVerification = .none }
        return try NIOSSLContext(configuration: tls)
    }

    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }

    static func bootstrap(
        group: any EventLoopGroup, url: BenchURL, sslContext: NIOSSLContext?, timeout: TimeAmount,
        track: @escaping @Sendable (any Channel) -> Void
    ) -> ClientBootstrap {
        ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if url.tls, let sslContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: isAddress(url.host) ? nil : url.host))
                    }
                    try pipeline.addHTTPClientHandlers()
                }
            }
    }

    /// Connects and handshakes `count` clients, at most `concurrency` at a time.
    static func connectAll(
        count: Int, concurrency: Int, loop: any EventLoop, makeBootstrap: @escaping @Sendable () -> ClientBootstrap, url: BenchURL, counters: RunCounters,
        makeHandler: @escaping @Sendable (any Channel, EventLoopPromise<Bool>) -> PollClientHandler
    ) async throws {
        let allDone = loop.makePromise(of: Void.self)
        let state = NIOLoopBoundBox.makeBoxSendingValue((started: 0, finished: 0), eventLoop: loop)
        @Sendable func launch() {
            while state.value.started < count && state.value.started - state.value.finished < concurrency {
                state.value.started += 1
                let done = loop.makePromise(of: Bool.self)
                done.futureResult.whenComplete { _ in
                    state.value.finished += 1
                    if state.value.finished == count { allDone.succeed() } else { launch() }
                }
                makeBootstrap().connect(host: url.host, port: url.port).flatMap { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(makeHandler(channel, done))
                    }
                }.whenFailure { error in
                    counters.error(BenchErrorKind.describe(error))
                    counters.handshakeFailures.wrappingAdd(1, ordering: .relaxed)
                    done.succeed(false)
                }
            }
        }
        loop.execute { launch() }
        try await allDone.futureResult.get()
    }

    /// The client for the publish connection, on the bench's event loops, with its TLS settings.
    static func publishClient(_ config: HTTPBenchConfiguration, group: any EventLoopGroup) throws -> WireClient {
        try WireClient(tls: .init(caCertificatePath: config.caCertificatePath, insecure: config.insecure), group: group)
    }
}

/// Every connection the bench opened, so that it can close them all.
final class ChannelList: Sendable {
    private let channels = Mutex<[any Channel]>([])
    func append(_ channel: any Channel) { channels.withLock { $0.append(channel) } }
    var all: [any Channel] { channels.withLock { $0 } }
}
