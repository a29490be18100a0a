@testable import GPollBench
import Testing

@Suite("Argument validation")
struct OptionsTests {
    static func options(_ change: (inout HTTPBenchOptions) -> Void = { _ in }) -> HTTPBenchOptions {
        var options = HTTPBenchOptions(pollURL: "http://127.0.0.1:8080/poll", publishURL: "http://127.0.0.1:8081/publish")
        change(&options)
        return options
    }

    static func problems(_ options: HTTPBenchOptions) -> [String] {
        switch options.validate() {
        case .success: return []
        case .failure(let errors): return errors.problems
        }
    }

    @Test("Defaults are valid: lock-step burst 1")
    func defaults() throws {
        let configuration = try Self.options().validate().get()
        #expect(configuration.schedule == .burst(1))
        #expect(configuration.pollURL.host == "127.0.0.1" && configuration.pollURL.port == 8080)
        #expect(configuration.pollURL.target(clientID: "0") == "/poll?client-id=0")
        #expect(configuration.publishURL.target == "/publish")
    }

    @Test("URL parts: default ports, query kept, IPv6 unbracketed")
    func urls() throws {
        let a = try BenchURL.parse("https://example.com/a/b?x=1", role: "url").get()
        #expect(a.tls && a.port == 443 && a.target(clientID: "7") == "/a/b?x=1&client-id=7" && a.hostHeader == "example.com")
        let b = try BenchURL.parse("http://[::1]:9000", role: "url").get()
        #expect(b.host == "::1" && b.path == "/" && b.hostHeader == "[::1]:9000")
    }

    static let bad: [(String, @Sendable (inout HTTPBenchOptions) -> Void, String)] = [
        ("poll URL not a URL", { $0.pollURL = "not a url" }, "poll URL"),
        ("poll URL wrong scheme", { $0.pollURL = "ftp://127.0.0.1/poll" }, "use http:// or https://"),
        ("poll URL no host", { $0.pollURL = "http:///poll" }, "has no host"),
        ("poll URL carries client-id", { $0.pollURL = "http://h/poll?client-id=0" }, "client-id"),
        ("publish URL bad", { $0.publishURL = "127.0.0.1:8081" }, "--publish-url"),
        ("publish header without colon", { $0.publishHeaders = ["Authorization Bearer"] }, "'Name: value'"),
        ("publish header sets Content-Length", { $0.publishHeaders = ["Content-Length: 3"] }, "set by the bench"),
        ("no clients", { $0.clients = 0 }, "--clients must be at least 1"),
        ("no messages", { $0.messages = 0 }, "--messages must be at least 1"),
        ("size too small", { $0.size = 19 }, "too small"),
        ("size too big", { $0.size = (1 << 20) + 1 }, "too big"),
        ("burst zero", { $0.burst = 0 }, "--burst must be at least 1"),
        ("burst and rate", { $0.burst = 2; $0.rate = 10 }, "exclude each other"),
        ("burst above buffer", { $0.burst = 101 }, "larger than --client-buffer"),
        ("burst above messages", { $0.burst = 5; $0.messages = 3 }, "larger than --messages"),
        ("rate zero", { $0.rate = 0 }, "--rate must be a positive"),
        ("rate negative", { $0.rate = -5 }, "--rate must be a positive"),
        ("rate infinite", { $0.rate = .infinity }, "--rate must be a positive"),
        ("duration zero", { $0.duration = 0 }, "--duration must be a positive"),
        ("client buffer zero", { $0.clientBuffer = 0 }, "--client-buffer must be at least 1"),
        ("connect concurrency zero", { $0.connectConcurrency = 0 }, "--connect-concurrency"),
        ("timeout zero", { $0.timeout = 0 }, "--timeout"),
        ("threads zero", { $0.threads = 0 }, "--threads"),
        ("hold negative", { $0.hold = -1 }, "--hold"),
        ("ca-cert and insecure", { $0.pollURL = "https://h/poll"; $0.caCertificatePath = "/x.pem"; $0.insecure = true }, "exclude each other"),
        ("TLS options without https", { $0.insecure = true }, "need an https:// URL"),
        ("server pid zero", { $0.serverPID = 0 }, "--server-pid 0 is not a running process"),
        ("server pid of no process", { $0.serverPID = Int32.max }, "is not a running process"),
    ]

    @Test("Each bad input gives its own clear error", arguments: 0..<bad.count)
    func badInput(_ index: Int) {
        let (name, change, expected) = Self.bad[index]
        let problems = Self.problems(Self.options(change))
        #expect(problems.contains { $0.contains(expected) }, "\(name): got \(problems)")
    }

    @Test("All problems are reported at once")
    func several() {
        let problems = Self.problems(Self.options { $0.clients = 0; $0.messages = 0; $0.size = 1 })
        #expect(problems.count == 3)
    }

    @Test("In-process: M > B is refused, as the original does; bad counts too")
    func inProcess() {
        func problems(_ change: (inout InProcessOptions) -> Void) -> [String] {
            var options = InProcessOptions()
            change(&options)
            if case .failure(let errors) = options.validate() { return errors.problems }
            return []
        }
        #expect(problems { _ in }.isEmpty)
        #expect(problems { $0.messages = 101 }.contains { $0.contains("larger than --client-buffer") })
        #expect(problems { $0.clients = 0 }.contains { $0.contains("--clients") })
        #expect(problems { $0.messages = 0 }.contains { $0.contains("--messages") })
        #expect(problems { $0.size = -1 }.contains { $0.contains("--size") })
        #expect(problems { $0.clientBuffer = 0 }.contains { $0.contains("--client-buffer") })
    }
}
