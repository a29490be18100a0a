import Foundation
import GPollTestSupport
import Testing

/// A headless Chromium (Debian's `chromium`) for one test: its own profile in a
/// scratch directory, DevTools on a port it picks itself, stopped by its pid at the end.
struct Browser: Sendable {
    let devtools: DevTools

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts Chromium, runs `body` with it, and stops it, also when `body` throws.
    /// Without Chromium it records an issue and returns nil.
    static func with<T: Sendable>(_ body: @Sendable (Browser) async throws -> T) async throws -> T? {
        guard let chromium = Program.find("chromium") ?? Program.find("chromium-browser") else {
            Issue.record("chromium is not installed: `apt-get install chromium` (.ci/run installs it); the browser tests run in it")
            return nil
        }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: profile) }
        let process = try await RunningProgram.start(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-extensions", "--disable-sync", "--mute-audio",
            "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", "--window-size=820,640",
            "about:blank",
        ])
        do {
            let (port, path) = try await devToolsAddress(in: profile)
            let result = try await DevTools.connect(port: port, path: path) { devtools in
                // Closing from inside ends Chromium with its own helper processes, also after a failure.
                do {
                    let value = try await body(Browser(devtools: devtools))
                    _ = try? await devtools.call("Browser.close", timeout: .seconds(5))
                    return value
                } catch {
                    _ = try? await devtools.call("Browser.close", timeout: .seconds(5))
                    throw error
                }
            }
            await stop(process, closing: true)
            return result
        } catch {
            await stop(process, closing: false)
            throw error
        }
    }

    /// Waits for Chromium to end after Browser.close (`closing`), then stops it by
    /// its pid if it has not: SIGTERM, so that it ends its helpers, then SIGKILL.
    private static func stop(_ process: RunningProgram, closing: Bool) async {
        for terminate in closing ? [false, true] : [true] {
            if terminate { process.send(.terminate) }
            let ended = await withTaskGroup(of: Bool.self) { group in
                group.addTask { _ = try? await process.wait(); return true }
                group.addTask { try? await Task.sleep(for: .seconds(10)); return false }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if ended { return }
        }
        await process.stop()
    }

    /// The port and browser path Chromium writes to `DevToolsActivePort` in its profile once it listens.
    private static func devToolsAddress(in profile: URL) async throws -> (Int, String) {
        let file = profile.appendingPathComponent("DevToolsActivePort")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: file, encoding: .utf8) {
                let lines = text.split(separator: "\n")
                if lines.count >= 2, let port = Int(lines[0]) { return (port, String(lines[1])) }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "chromium wrote no DevToolsActivePort within 60 s")
    }

    /// Opens `url` in a new tab and attaches to it.
    func open(_ url: String) async throws -> Page {
        let created = try await devtools.call("Target.createTarget", ["url": url])
        guard let target = created["targetId"] as? String else { throw Failure(description: "no targetId in \(created)") }
        let attached = try await devtools.call("Target.attachToTarget", ["targetId": target, "flatten": true])
        guard let session = attached["sessionId"] as? String else { throw Failure(description: "no sessionId in \(attached)") }
        return Page(devtools: devtools, target: target, session: session)
    }
}

/// One tab, through its DevTools session.
struct Page: Sendable {
    let devtools: DevTools
    let target: String
    let session: String

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value as JSON would give it.
    func evaluate(_ expression: String) async throws -> Any? {
        let answer = try await devtools.call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true],
                                             session: session)
        if let exception = answer["exceptionDetails"] {
            throw Browser.Failure(description: "the page threw evaluating \(expression): \(exception)")
        }
        return (answer["result"] as? [String: Any])?["value"]
    }

    /// What the demo page has seen (`window.gpollDemo`), or nil before its script ran.
    func demoState() async throws -> DemoPageState? {
        guard let text = try await evaluate("JSON.stringify(window.gpollDemo ?? null)") as? String, text != "null" else { return nil }
        return try JSONDecoder().decode(DemoPageState.self, from: Data(text.utf8))
    }

    /// Waits until the page's state satisfies `condition`, checking every 50 ms, and
    /// returns it; fails after `timeout` with the last state seen.
    @discardableResult
    func waitUntil(_ what: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation,
                   _ condition: (DemoPageState) -> Bool) async throws -> DemoPageState {
        let deadline = ContinuousClock.now + timeout
        var last: DemoPageState?
        while ContinuousClock.now < deadline {
            last = try await demoState()
            if let last, condition(last) { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what); the page's state: \(last.map { "\($0)" } ?? "none")", sourceLocation: sourceLocation)
        throw Browser.Failure(description: "timed out waiting until \(what)")
    }

    /// The tab as a PNG.
    func screenshot() async throws -> Data {
        let answer = try await devtools.call("Page.captureScreenshot", ["format": "png"], session: session)
        guard let base64 = answer["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw Browser.Failure(description: "no screenshot data")
        }
        return png
    }
}

/// `window.gpollDemo` of Clients/js/demo.html.
struct DemoPageState: Decodable, Sendable, CustomStringConvertible {
    struct Event: Decodable, Sendable {
        var type: String
        var detail: String?
    }

    var endpoint: String
    var status: String
    var clientId: String?
    var registrations: Int
    var registrationsAgain: Int
    var gaps: [String]
    var backoffs: Int
    var messages: [String]
    var events: [Event]

    var description: String {
        "status \(status), \(registrations) registrations (\(registrationsAgain) again: \(gaps)), \(backoffs) backoffs, "
            + "messages \(messages), last events \(events.suffix(6).map { "\($0.type) \($0.detail ?? "")" })"
    }
}
