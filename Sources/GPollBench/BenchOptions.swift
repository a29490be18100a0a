import Foundation

/// A problem with the bench's settings, in words a command line can print.
package struct BenchOptionsError: Error, Hashable, Sendable, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// How the HTTP driver publishes during the measurement phase.
package enum PublishSchedule: Hashable, Sendable {
    /// Lock-step: K messages back to back, then wait until every live client has
    /// all of them, then the next K. K = 1 measures broadcast latency.
    case burst(Int)
    /// Open loop: R messages per second, whatever the clients do.
    case rate(Double)
}

/// Every setting of an HTTP run, checked by ``validate()``.
package struct HTTPBenchOptions: Sendable {
    package var pollURL: String
    package var publishURL: String
    /// `Name: value` lines sent with every publish request (for example authorisation).
    package var publishHeaders: [String] = []
    package var clients: Int = 100
    package var messages: Int = 100
    package var size: Int = 64
    /// Exactly one of burst and rate; neither means burst 1.
    package var burst: Int?
    package var rate: Double?
    /// Stops the measurement phase after this long even if messages remain.
    package var duration: Double?
    /// The server's B; decides whether a 404 can be an eviction.
    package var clientBuffer: Int = 100
    /// How many connections (connect plus handshake) are under way at once.
    package var connectConcurrency: Int = 256
    /// How long one wait may take: a handshake, a burst's full delivery, the final drain.
    package var timeout: Double = 10
    /// Event loop threads of the bench.
    package var threads: Int = 2
    /// Seconds to wait with every poll waiting between the handshake and the
    /// measurement phase (to read the server's memory from outside, for example).
    package var hold: Double = 0
    package var caCertificatePath: String?
    package var insecure: Bool = false
    /// The protocol the clients speak.
    package var protocolKind: BenchProtocol = .gpoll
    /// The server's pid, to read its CPU time and memory from /proc (Linux).
    package var serverPID: Int32?

    package init(pollURL: String, publishURL: String) {
        self.pollURL = pollURL
        self.publishURL = publishURL
    }

    /// The largest message the bench sends: the reference server's default publish limit.
    static let maximumSize = 1 << 20

    /// The settings in the form the driver runs on, or every problem found.
    package func validate() -> Result<HTTPBenchConfiguration, BenchOptionsErrors> {
        var problems: [String] = []
        var poll: BenchURL?
        var publish: BenchURL?
        switch BenchURL.parse(pollURL, role: "the poll URL") {
        case .success(let url): poll = url
        case .failure(let error): problems.append(error.description)
        }
        switch BenchURL.parse(publishURL, role: "--publish-url") {
        case .success(let url):
            publish = url
        case .failure(let error): problems.append(error.description)
        }
        var headers: [(String, String)] = []
        for line in publishHeaders {
            guard let colon = line.firstIndex(of: ":") else {
                problems.append("--publish-header '\(line)' is not of the form 'Name: value'")
                continue
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+-.^_`|~".contains($0)) }) {
                problems.append("--publish-header '\(line)' has no valid header name before ':'")
                continue
            }
            if value.contains(where: { $0 == "\r" || $0 == "\n" }) {
                problems.append("--publish-header '\(line)' must not contain a line break")
                continue
            }
            if ["content-length", "transfer-encoding", "host", "connection"].contains(name.lowercased()) {
                problems.append("--publish-header '\(name)' is set by the bench itself")
                continue
            }
            headers.append((name, value))
        }
        if clients < 1 { problems.append("--clients must be at least 1 (got \(clients))") }
        if messages < 1 { problems.append("--messages must be at least 1 (got \(messages))") }
        if size < MessageStamp.byteCount {
            problems.append("--size \(size) is too small: every message starts with a \(MessageStamp.byteCount)-byte header (magic, sequence number, send time), so --size must be at least \(MessageStamp.byteCount)")
        } else if size > Self.maximumSize {
            problems.append("--size \(size) is too big: at most \(Self.maximumSize) bytes (the reference server's default publish limit)")
        }
        var schedule = PublishSchedule.burst(1)
        switch (burst, rate) {
        case (.some, .some):
            problems.append("--burst and --rate exclude each other: give one of them")
        case (let k?, nil):
            if k < 1 {
                problems.append("--burst must be at least 1 (got \(k))")
            } else if k > clientBuffer {
                problems.append("--burst \(k) is larger than --client-buffer \(clientBuffer): the server would evict clients by design; lower --burst or give the server's real --client-buffer")
            } else if k > messages && messages >= 1 {
                problems.append("--burst \(k) is larger than --messages \(messages)")
            }
            schedule = .burst(k)
        case (nil, let r?):
            if !(r.isFinite && r > 0) { problems.append("--rate must be a positive number of messages per second (got \(r))") }
            schedule = .rate(r)
        case (nil, nil):
            break
        }
        if let duration, !(duration.isFinite && duration > 0) {
            problems.append("--duration must be a positive number of seconds (got \(duration))")
        }
        if clientBuffer < 1 { problems.append("--client-buffer must be at least 1 (got \(clientBuffer))") }
        if connectConcurrency < 1 { problems.append("--connect-concurrency must be at least 1 (got \(connectConcurrency))") }
        if !(timeout.isFinite && timeout > 0) { problems.append("--timeout must be a positive number of seconds (got \(timeout))") }
        if !(hold.isFinite && hold >= 0) { problems.append("--hold must be 0 or a positive number of seconds (got \(hold))") }
        if !(1...64).contains(threads) { problems.append("--threads must be between 1 and 64 (got \(threads))") }
        if let serverPID, serverPID < 1 || !FileManager.default.fileExists(atPath: "/proc/\(serverPID)/stat") {
            problems.append("--server-pid \(serverPID) is not a running process (it is read from /proc/PID/stat)")
        }
        if caCertificatePath != nil && insecure { problems.append("--ca-cert and --insecure exclude each other") }
        let usesTLS = (poll?.tls ?? false) || (publish?.tls ?? false)
        if (caCertificatePath != nil || insecure) && !usesTLS && poll != nil && publish != nil {
            problems.append("--ca-cert and --insecure need an https:// URL")
        }
        guard problems.isEmpty, let poll, let publish else { return .failure(BenchOptionsErrors(problems: problems)) }
        return .success(HTTPBenchConfiguration(
            pollURL: poll,
            publishURL: publish,
            publishHeaders: headers,
            clients: clients,
            messages: messages,
            size: size,
            schedule: schedule,
            duration: duration,
            clientBuffer: clientBuffer,
            connectConcurrency: connectConcurrency,
            timeout: timeout,
            threads: threads,
            hold: hold,
            caCertificatePath: caCertificatePath,
            insecure: insecure,
            protocolKind: protocolKind,
            serverPID: serverPID
        ))
    }
}

/// All the problems of one set of options.
package struct BenchOptionsErrors: Error, Sendable, CustomStringConvertible {
    var problems: [String]
    package var description: String { problems.joined(separator: "\n") }
}

/// Checked settings of an HTTP run.
package struct HTTPBenchConfiguration: Sendable {
    var pollURL: BenchURL
    var publishURL: BenchURL
    var publishHeaders: [(String, String)]
    var clients: Int
    var messages: Int
    var size: Int
    var schedule: PublishSchedule
    var duration: Double?
    var clientBuffer: Int
    var connectConcurrency: Int
    var timeout: Double
    var threads: Int
    var hold: Double
    var caCertificatePath: String?
    var insecure: Bool
    var protocolKind: BenchProtocol
    var serverPID: Int32?
}

/// Settings of the in-process benchmark.
package struct InProcessOptions: Sendable {
    package var clients: Int = 10_000
    package var messages: Int = 100
    package var size: Int = 64
    package var clientBuffer: Int = 100

    package init() {}

    package func validate() -> Result<InProcessOptions, BenchOptionsErrors> {
        var problems: [String] = []
        if clients < 1 { problems.append("--clients must be at least 1 (got \(clients))") }
        if messages < 1 { problems.append("--messages must be at least 1 (got \(messages))") }
        if size < 0 { problems.append("--size must not be negative (got \(size))") }
        if size > HTTPBenchOptions.maximumSize { problems.append("--size \(size) is too big: at most \(HTTPBenchOptions.maximumSize) bytes") }
        if clientBuffer < 1 { problems.append("--client-buffer must be at least 1 (got \(clientBuffer))") }
        if messages >= 1 && clientBuffer >= 1 && messages > clientBuffer {
            problems.append("--messages \(messages) is larger than --client-buffer \(clientBuffer): nobody polls in this mode, so message \(clientBuffer + 1) would evict every client (the original refuses this too); raise --client-buffer to at least \(messages)")
        }
        guard problems.isEmpty else { return .failure(BenchOptionsErrors(problems: problems)) }
        return .success(self)
    }
}
