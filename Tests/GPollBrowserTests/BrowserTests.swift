import Foundation
import GPollCore
import GPollServer
import GPollTestSupport
import Synchronization
import Testing

/// A reference server on 127.0.0.1 for a browser test, with a fixed gpoll port once
/// started, so that it can be restarted where the page polls.
final class BrowserTestServer: Sendable {
    let configuration: GPollServerConfiguration
    let broadcaster: BroadcasterConfiguration
    let path: String
    /// The server now running (a restart makes a new one) and its endpoint.
    private let current = Mutex<(server: GPollServer, endpoint: GPollEndpoint)?>(nil)
    /// 0 until the first start; then the ports it bound, for every restart.
    private let ports = Mutex<(gpoll: Int, admin: Int)>((0, 0))

    var server: GPollServer { current.withLock { $0!.server } }
    var endpoint: GPollEndpoint { current.withLock { $0!.endpoint } }
    var port: Int { ports.withLock { $0.gpoll } }
    var adminPort: Int { ports.withLock { $0.admin } }
    var origin: String { "http://127.0.0.1:\(port)" }

    init(cors: [String]? = nil, demo: Bool = true, broadcaster: BroadcasterConfiguration = BroadcasterConfiguration(), path: String = "/poll") throws {
        configuration = GPollServerConfiguration(
            host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0), shutdownGracePeriod: .seconds(2),
            cors: try cors.map { try CORSPolicy(allowing: $0) }, demo: demo ? .init() : nil)
        self.broadcaster = broadcaster
        self.path = path
    }

    /// Starts a server, with a new endpoint: on port 0 the first time, on the same ports after a stop.
    func start() async throws {
        var configuration = self.configuration
        (configuration.port, configuration.admin!.port) = ports.withLock { ($0.gpoll, $0.admin) }
        let endpoint = try GPollEndpoint(path: path, configuration: broadcaster)
        let server = try GPollServer(configuration: configuration, endpoints: [endpoint])
        // The old listener's port can take a moment to be free again.
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                try await server.start()
                break
            } catch where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        ports.withLock { $0 = (server.port!, server.adminPort!) }
        current.withLock { $0 = (server, endpoint) }
    }

    func stop() async {
        await current.withLock { $0?.server }?.shutdown()
    }

    /// Publishes `message` through the admin listener, with curl, as an operator would.
    func publish(_ message: String) async throws {
        let curl = try #require(Program.find("curl"), "curl is needed (.ci/run installs it)")
        let run = try await Program.run(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", message,
                                               "http://127.0.0.1:\(adminPort)/publish"], timeout: .seconds(30))
        #expect(run.stdout == "204", "publishing '\(message)': \(run.stdout) \(run.stderr)")
    }

    /// Runs `body` with a started server and stops it afterwards.
    static func with<T>(_ server: BrowserTestServer, _ body: (BrowserTestServer) async throws -> T) async throws -> T {
        try await server.start()
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

/// The demo page, gpoll.js and CORS in headless Chromium. One Chromium per test;
/// one test at a time, for each is a browser and servers on a small machine.
@Suite("gpoll.js and the demo in Chromium", .serialized)
struct BrowserTests {
    @Test("the demo page registers and receives a message published on the admin listener")
    func receivesAdminPublish() async throws {
        try await BrowserTestServer.with(try BrowserTestServer()) { server in
            let origin = server.origin
            try await Browser.with { browser in
                let page = try await browser.open("\(origin)/")
                let registered = try await page.waitUntil("the page has registered") { $0.registrations == 1 && $0.clientId != nil }
                #expect(registered.endpoint == "\(origin)/poll")
                try await server.publish("hello from the admin listener")
                try await page.waitUntil("the message arrived") { $0.messages == ["hello from the admin listener"] }
                let shown = try await page.evaluate("document.querySelector('#messages li.message').textContent") as? String
                #expect(shown == "#1hello from the admin listener", "the message is on the page, with its sequence number")
            }
        }
    }

    @Test("two pages both receive every message, in order")
    func twoPagesInOrder() async throws {
        try await BrowserTestServer.with(try BrowserTestServer()) { server in
            let origin = server.origin
            try await Browser.with { browser in
                let pages = [try await browser.open("\(origin)/"), try await browser.open("\(origin)/")]
                for page in pages { try await page.waitUntil("the page has registered") { $0.registrations == 1 } }
                #expect(server.endpoint.clientCount == 2)
                let sent = (1...12).map { "message \($0)" }
                for message in sent { try await server.publish(message) }
                for page in pages {
                    let state = try await page.waitUntil("all messages arrived") { $0.messages.count >= sent.count }
                    #expect(state.messages == sent)
                    #expect(state.registrationsAgain == 0)
                }
            }
        }
    }

    @Test("a page goes on after 204s, after a 404 (registers again and shows it), after a restart of the server")
    func survives204And404AndRestart() async throws {
        // T = 1 s makes 204s come every second; E = 3 s evicts the page while it is frozen
        // (a polling page is never 3 s without a poll in flight).
        let broadcaster = BroadcasterConfiguration(pollTimeout: .seconds(1), idleExpiry: .seconds(3))
        try await BrowserTestServer.with(try BrowserTestServer(broadcaster: broadcaster)) { server in
            let origin = server.origin
            try await Browser.with { browser in
                let page = try await browser.open("\(origin)/")
                try await page.waitUntil("the page has registered") { $0.registrations == 1 }

                // 204: the page's polls end empty and it polls again.
                try await waitFor("two of the page's polls were answered 204") { server.endpoint.statistics.timedOutPolls >= 2 }
                try await server.publish("after 204s")
                try await page.waitUntil("the message after the 204s arrived") { $0.messages == ["after 204s"] }

                // 404: frozen (as a sleeping tab is), the page polls no more and the server
                // evicts it after E; woken, it gets 404 expired and registers again.
                let awake = try await page.waitUntil("the page's state") { _ in true }
                let evictions = server.endpoint.statistics.idleEvictions
                _ = try await page.devtools.call("Page.setWebLifecycleState", ["state": "frozen"], session: page.session)
                try await waitFor("the frozen page was evicted") { server.endpoint.statistics.idleEvictions > evictions }
                _ = try await page.devtools.call("Page.setWebLifecycleState", ["state": "active"], session: page.session)
                let again = try await page.waitUntil("the page registered again") { $0.registrationsAgain > awake.registrationsAgain }
                #expect(again.gaps.last?.contains("404, expired") == true, "\(again.gaps)")
                let notice = try await page.evaluate("document.querySelector('#messages li.notice')?.textContent ?? ''") as? String
                #expect(notice?.contains("registered again") == true, "the page shows the gap: \(notice ?? "")")
                try await server.publish("after 404")
                try await page.waitUntil("the message after the 404 arrived") { $0.messages == ["after 204s", "after 404"] }

                // Restart on the same port: the new server does not know the id (404 unknown).
                await server.stop()
                try await server.start()
                let restarted = try await page.waitUntil("the page registered with the new server") { $0.registrationsAgain > again.registrationsAgain }
                #expect(restarted.gaps.last?.contains("404, unknown") == true, "\(restarted.gaps)")
                try await waitFor("the new server knows the page") { server.endpoint.clientCount == 1 }
                try await server.publish("after restart")
                let final = try await page.waitUntil("the message after the restart arrived") { $0.messages.count == 3 }
                #expect(final.messages == ["after 204s", "after 404", "after restart"])
            }
        }
    }

    @Test("CORS: a page of another origin polls a server that allows it; one that does not allow it is refused")
    func crossOrigin() async throws {
        // The page comes from one demo server; it polls the endpoint of another (another port, another origin).
        try await BrowserTestServer.with(try BrowserTestServer()) { site in
            let pageOrigin = site.origin
            let allowing = try BrowserTestServer(cors: [pageOrigin], demo: false)
            let refusing = try BrowserTestServer(cors: ["http://127.0.0.1:1"], demo: false)
            let withoutCORS = try BrowserTestServer(demo: false)
            try await BrowserTestServer.with(allowing) { allowing in
                try await BrowserTestServer.with(refusing) { refusing in
                    try await BrowserTestServer.with(withoutCORS) { withoutCORS in
                        try await Browser.with { browser in
                            let allowed = try await browser.open("\(pageOrigin)/?endpoint=\(allowing.origin)/poll")
                            try await allowed.waitUntil("the cross-origin page registered") { $0.registrations == 1 }
                            try await allowing.publish("across origins")
                            try await allowed.waitUntil("the message arrived across origins") { $0.messages == ["across origins"] }

                            for server in [refusing, withoutCORS] {
                                let page = try await browser.open("\(pageOrigin)/?endpoint=\(server.origin)/poll")
                                // The handshakes reach the server; the browser withholds every answer.
                                let refused = try await page.waitUntil("the page failed twice") { $0.backoffs >= 2 }
                                #expect(refused.registrations == 0 && refused.clientId == nil, "\(refused)")
                                // fetch's TypeError for a refused cross-origin answer, not any other failure.
                                #expect(refused.events.contains { $0.type == "backoff" && $0.detail?.contains("Failed to fetch") == true }, "\(refused)")
                                #expect(server.endpoint.statistics.registeredClients >= 1, "the requests did reach the server")
                                #expect(refused.status == "waiting")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("the chat: pages send through /demo/publish, every page shows every message as text; the README screenshot")
    func chatAndScreenshot() async throws {
        try await BrowserTestServer.with(try BrowserTestServer()) { server in
            let origin = server.origin
            let png = try await Browser.with { browser -> Data in
                let alice = try await browser.open("\(origin)/")
                let bob = try await browser.open("\(origin)/")
                for page in [alice, bob] { try await page.waitUntil("the page has registered") { $0.registrations == 1 } }
                try await server.publish("Welcome to the gpoll demo chat (published on the admin listener)")
                try await alice.waitUntil("the welcome arrived") { $0.messages.count == 1 }
                try await Self.say("Hi Bob! This came through POST /demo/publish.", as: "alice", on: alice)
                try await bob.waitUntil("alice's line arrived") { $0.messages.count == 2 }
                try await Self.say("Hi Alice, long polling works here. <b>Markup stays text.</b>", as: "bob", on: bob)
                let expected = [
                    "Welcome to the gpoll demo chat (published on the admin listener)",
                    "alice: Hi Bob! This came through POST /demo/publish.",
                    "bob: Hi Alice, long polling works here. <b>Markup stays text.</b>",
                ]
                for page in [alice, bob] {
                    let state = try await page.waitUntil("every line arrived") { $0.messages.count >= expected.count }
                    #expect(state.messages == expected)
                    #expect(try await page.evaluate("document.querySelectorAll('#messages b').length") as? Int == 0, "a message made no element")
                }
                return try await alice.screenshot()
            }
            guard let png else { return }
            // A PNG (signature, IHDR) of the window's size.
            #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            let width = png.dropFirst(16).prefix(4).reduce(0) { $0 << 8 | Int($1) }
            let height = png.dropFirst(20).prefix(4).reduce(0) { $0 << 8 | Int($1) }
            #expect(width >= 400 && height >= 300, "\(width)×\(height)")
            try Self.keep(png)
        }
    }

    /// Types `text` as `name` in the page's form and sends it; waits for the form to be sent (the field empties).
    static func say(_ text: String, as name: String, on page: Page) async throws {
        let script = """
            document.getElementById('name').value = \(try jsonString(name));
            document.getElementById('text').value = \(try jsonString(text));
            document.getElementById('compose').requestSubmit();
            """
        _ = try await page.evaluate(script)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let field = try await page.evaluate("document.getElementById('text').value") as? String
            let problem = try await page.evaluate("document.getElementById('send-status').textContent") as? String
            if let problem, !problem.isEmpty { Issue.record("the page could not send: \(problem)"); return }
            if field == "" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the page did not send '\(text)' within 30 s")
    }

    static func jsonString(_ text: String) throws -> String {
        String(decoding: try JSONEncoder().encode(text), as: UTF8.self)
    }

    /// The screenshot goes to .build/browser-tests/demo.png; with GPOLL_UPDATE_SCREENSHOT=1
    /// also to Docs/demo.png, the one README shows.
    static func keep(_ png: Data) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let build = root.appendingPathComponent(".build/browser-tests")
        try FileManager.default.createDirectory(at: build, withIntermediateDirectories: true)
        try png.write(to: build.appendingPathComponent("demo.png"))
        if ProcessInfo.processInfo.environment["GPOLL_UPDATE_SCREENSHOT"] == "1" {
            try png.write(to: root.appendingPathComponent("Docs/demo.png"))
        }
    }
}

/// Waits until `condition` holds, checking every 20 ms; fails after `timeout`.
func waitFor(_ what: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation,
             _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            throw Browser.Failure(description: "timed out waiting until \(what)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
