import Foundation
import GPollSpec
import GPollWire

/// A command line that cannot be run; exit code 2.
public struct UsageError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The command line as given, before validation. Kept apart from ArgumentParser so
/// that validation and the whole run can be tested in-process.
public struct RunOptions: Sendable {
    public var pollURL: String
    public var publishURL: String?
    public var publishHeaders: [String] = []
    public var secondEndpoint: String?
    public var secondPublishURL: String?
    /// B; nil: what the server advertises (Spec §17), else 100, the Spec's recommendation.
    public var clientBuffer: Int?
    public var pollTimeout: Double?
    public var idleExpiry: Double?
    public var maxClients: Int?
    public var cases: [String] = []
    public var excludes: [String] = []
    public var strict = false
    /// Also run the stress tier (cases that need `stress`).
    public var stress = false
    public var junit: String?
    /// Leave out the per-case `<system-out>` of WARN and FLAKY cases, which the Ant
    /// schema does not allow (their text stays in the suite's `<system-out>`).
    public var junitAnt = false
    public var json: String?
    public var verbose = false
    public var timeout: Double = 10
    public var settleMs: Int = 150
    public var caCert: String?
    public var insecure = false
    public var parallelism = 16
    // Reports and repetition (--repeat, --reproduce, --html).
    /// Run the selection this many times; a case whose runs disagree is FLAKY.
    public var repeatCount = 1
    /// A directory for one replay script per FAIL, WARN and FLAKY case.
    public var reproduce: String?
    /// A self-contained HTML report.
    public var html: String?

    public init(pollURL: String) { self.pollURL = pollURL }

    /// The most runs --repeat accepts: beyond it a typo (an extra 0) would hold a CI
    /// job for hours.
    public static let maximumRepeat = 1000

    /// Checks --repeat, --reproduce and --html (before anything runs, so that a bad
    /// path is a usage error and not a lost report after a long run).
    public func checkReportOptions() throws(UsageError) {
        guard (1...Self.maximumRepeat).contains(repeatCount) else {
            throw UsageError("--repeat \(repeatCount): expected 1 to \(Self.maximumRepeat)")
        }
        if let reproduce {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: reproduce, isDirectory: &isDirectory) {
                if !isDirectory.boolValue { throw UsageError("--reproduce \(reproduce): not a directory") }
            } else {
                do { try FileManager.default.createDirectory(atPath: reproduce, withIntermediateDirectories: true) } catch {
                    throw UsageError("--reproduce \(reproduce): cannot create the directory: \(error.localizedDescription)")
                }
            }
            if !FileManager.default.isWritableFile(atPath: reproduce) {
                throw UsageError("--reproduce \(reproduce): the directory is not writable")
            }
        }
        if let html {
            let directory = URL(fileURLWithPath: html).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UsageError("--html \(html): the directory \(directory) does not exist")
            }
        }
    }

    static func endpoint(_ text: String, _ option: String) throws(UsageError) -> Endpoint {
        do { return try Endpoint(text) } catch { throw UsageError("\(option): \(error)") }
    }

    /// `Name: value` into a header pair.
    static func header(_ text: String) throws(UsageError) -> (String, String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw UsageError("--publish-header '\(text)': expected 'Name: value'")
        }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        let token = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(token.contains) else {
            throw UsageError("--publish-header '\(text)': '\(name)' is not a header name")
        }
        guard !value.contains("\r"), !value.contains("\n") else {
            throw UsageError("--publish-header '\(text)': a value cannot hold a line break")
        }
        return (name, value)
    }

    static func seconds(_ value: Double, _ option: String, allowZero: Bool) throws(UsageError) -> Duration {
        guard value.isFinite, value >= 0, allowZero || value > 0, value <= 86_400 else {
            throw UsageError("\(option) \(value): expected a number of seconds\(allowZero ? " (0 or more)" : " above 0")")
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// T or E: 0 (never), or at least one second. Below a second a waiting poll
    /// cannot be told from a timed-out one within the Spec's allowances (§16.2), so a
    /// tester judges such servers at T or E of one second or more only.
    static func timer(_ value: Double, _ option: String, _ symbol: String) throws(UsageError) -> Duration {
        let duration = try seconds(value, option, allowZero: true)
        guard duration == .zero || duration >= .seconds(1) else {
            throw UsageError("\(option) \(value): \(symbol) is 0 (never) or at least 1 second (Spec §16.2)")
        }
        return duration
    }

    public func settings() throws(UsageError) -> Settings {
        var settings = Settings(pollURL: try Self.endpoint(pollURL, "<poll-url>"))
        settings.publishURL = try publishURL.map { url throws(UsageError) in try Self.endpoint(url, "--publish-url") }
        settings.secondEndpoint = try secondEndpoint.map { url throws(UsageError) in try Self.endpoint(url, "--second-endpoint") }
        settings.secondPublishURL = try secondPublishURL.map { url throws(UsageError) in try Self.endpoint(url, "--second-publish-url") }
        if settings.secondPublishURL != nil && settings.secondEndpoint == nil {
            throw UsageError("--second-publish-url needs --second-endpoint")
        }
        if !publishHeaders.isEmpty && settings.publishURL == nil { throw UsageError("--publish-header needs --publish-url") }
        settings.publishHeaders = try publishHeaders.map { text throws(UsageError) in try Self.header(text) }
        if let clientBuffer {
            guard clientBuffer >= 1 else { throw UsageError("--client-buffer \(clientBuffer): B is at least 1") }
            settings.clientBuffer = clientBuffer
            settings.clientBufferGiven = true
        }
        settings.pollTimeout = try pollTimeout.map { value throws(UsageError) in try Self.timer(value, "--poll-timeout", "T") }
        settings.idleExpiry = try idleExpiry.map { value throws(UsageError) in try Self.timer(value, "--idle-expiry", "E") }
        if let maxClients, maxClients < 1 { throw UsageError("--max-clients \(maxClients): expected 1 or more") }
        settings.maxClients = maxClients
        settings.caseTimeout = try Self.seconds(timeout, "--timeout", allowZero: false)
        guard (0...60_000).contains(settleMs) else { throw UsageError("--settle-ms \(settleMs): expected 0 to 60000") }
        settings.settle = .milliseconds(settleMs)
        settings.strict = strict
        settings.stress = stress
        settings.parallelism = max(1, parallelism)
        if let caCert, !FileManager.default.isReadableFile(atPath: caCert) {
            throw UsageError("--ca-cert \(caCert): cannot read the file")
        }
        if caCert != nil && insecure { throw UsageError("--ca-cert and --insecure exclude each other") }
        return settings
    }

    /// The selection, refusing patterns that match no case (a typo would otherwise
    /// silently run nothing, or everything).
    public func selection(in catalog: Catalog) throws(UsageError) -> CaseSelection {
        var include: [Glob] = [], exclude: [Glob] = []
        do {
            include = try cases.map { try Glob($0) }
            exclude = try excludes.map { try Glob($0) }
        } catch {
            throw UsageError("bad pattern: \(error)")
        }
        let selection = CaseSelection(include: include, exclude: exclude)
        let unmatched = selection.unmatched(in: catalog.cases.filter { catalog.side(ofSection: $0.section) == .server }.map(\.id))
        if !unmatched.isEmpty {
            throw UsageError("no case id matches \(unmatched.map { "'\($0)'" }.joined(separator: ", ")) (see --list)")
        }
        return selection
    }

    /// The options that shape verdicts, for report headers.
    public var described: [String] {
        var out = ["--client-buffer \(clientBuffer.map(String.init) ?? "(advertised, else 100)")", "--timeout \(timeout)", "--settle-ms \(settleMs)"]
        if let publishURL { out.append("--publish-url \(publishURL)") }
        if !publishHeaders.isEmpty { out.append("--publish-header (\(publishHeaders.count), values hidden)") }
        if let secondEndpoint { out.append("--second-endpoint \(secondEndpoint)") }
        if let secondPublishURL { out.append("--second-publish-url \(secondPublishURL)") }
        if let pollTimeout { out.append("--poll-timeout \(pollTimeout)") }
        if let idleExpiry { out.append("--idle-expiry \(idleExpiry)") }
        if let maxClients { out.append("--max-clients \(maxClients)") }
        out += cases.map { "--case \($0)" } + excludes.map { "--exclude \($0)" }
        if strict { out.append("--strict") }
        if stress { out.append("--stress") }
        if insecure { out.append("--insecure") }
        if repeatCount != 1 { out.append("--repeat \(repeatCount)") }
        return out
    }
}
