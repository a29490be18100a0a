import Foundation
@testable import GPollConformance
import GPollCore
import GPollSpec
import GPollTestSupport
import GPollWire
import Testing

/// Deploy/cluster-nginx.conf, as shipped.
enum ShippedClusterNginx {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy/cluster-nginx.conf").path

    /// Whether every module it loads (`load_module PATH;`) is installed.
    static var modulesInstalled: Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.split(separator: "\n").allSatisfy { line in
            guard line.hasPrefix("load_module ") else { return true }
            let module = line.dropFirst("load_module ".count).prefix { $0 != ";" }
            return FileManager.default.isReadableFile(atPath: String(module))
        }
    }
}

/// Three nodes behind a real nginx running Deploy/cluster-nginx.conf (only its
/// addresses changed): polls routed by the id's prefix, handshakes spread, the
/// whole conformance suite through it, and limits/005 through it without the
/// configuration's header-line check (which is what makes that case pass).
@Suite(.serialized, .enabled(if: PostgresServer.binaryDirectory != nil && NginxServer.binary != nil && ShippedClusterNginx.modulesInstalled,
                             "needs PostgreSQL 15 and nginx with its lua module (apt-get install postgresql nginx-light libnginx-mod-http-lua)"))
struct NginxTests {
    /// The shipped configuration with this run's ports, and temporary files in nginx's own directory;
    /// without its `access_by_lua_block` (the check for header lines without a colon) if `headerCheck` is false.
    static func configuration(port: Int, nodes: [NodeProcess], headerCheck: Bool = true) throws -> String {
        var text = try String(contentsOfFile: ShippedClusterNginx.path, encoding: .utf8)
        let listen = "listen 127.0.0.1:8080;"
        #expect(text.contains(listen))
        text = text.replacingOccurrences(of: listen, with: "listen 127.0.0.1:\(port);")
        for node in nodes {
            let shipped = "127.0.0.1:808\(node.prefix);"
            #expect(text.contains(shipped))
            text = text.replacingOccurrences(of: shipped, with: "127.0.0.1:\(node.port);")
        }
        if !headerCheck { text = try withoutBlock("access_by_lua_block {", in: text) }
        // Workers run as nobody when the tests run as root: temporary files go where it may write.
        return text.replacingOccurrences(of: "http {", with: """
            http {
                client_body_temp_path @TMP@/body;
                proxy_temp_path @TMP@/proxy;
            """)
    }

    /// `text` without the block that starts with `opening` (up to its matching brace).
    static func withoutBlock(_ opening: String, in text: String) throws -> String {
        let start = try #require(text.range(of: opening), "the configuration has no \(opening)")
        var depth = 0
        for index in text[start.lowerBound...].indices {
            if text[index] == "{" { depth += 1 }
            if text[index] == "}" {
                depth -= 1
                if depth == 0 { return String(text[..<start.lowerBound] + text[text.index(after: index)...]) }
            }
        }
        throw HarnessError(description: "\(opening) has no closing brace")
    }

    /// nginx on a free port in front of `nodes`, stopped after `body`.
    static func withNginx<T>(_ nodes: [NodeProcess], headerCheck: Bool = true, _ body: (Int) async throws -> T) async throws -> T {
        let port = try freePort()
        let text = try configuration(port: port, nodes: nodes, headerCheck: headerCheck)
        let nginx = try await NginxServer.start(configuration: text, port: port)
        do {
            let result = try await body(port)
            await nginx.stop()
            return result
        } catch {
            let log = await nginx.errorLog
            await nginx.stop()
            throw HarnessError(description: "\(error)\nnginx error log:\n\(log)")
        }
    }

    @Test("behind nginx: handshakes reach every node, polls (with $ or %24) reach their node, a dead node's clients get 404 and register again")
    func routing() async throws {
        try await withCluster(nodes: 3) { _, nodes in
            try await Self.withNginx(nodes) { proxy in
                // Every client talks to nginx alone, as a browser would.
                var clients: [ClusterClient] = []
                for index in 0..<6 {
                    let client = ClusterClient(encodesDollar: index % 2 == 1)
                    try await client.start(handshakePort: proxy, pollPort: { _ in proxy })
                    clients.append(client)
                }
                defer { for client in clients { client.stop() } }
                let prefixes = Set(clients.compactMap { $0.record.ids.first?.routine })
                #expect(prefixes == [1, 2, 3], "round robin handed out \(prefixes)")

                let total = 40
                for (index, message) in messages(0..<total).enumerated() {
                    if index == 15 { await nodes[2].kill() }
                    #expect(await publish(message, adminPort: nodes[0].adminPort), "publish \(message) was not answered 204")
                }
                for client in clients {
                    let complete = await client.wait { $0.received.last == "m\(total - 1)" }
                    let record = client.record
                    #expect(complete, "a client ended at \(record.received.last ?? "nothing")")
                    if record.ids.first?.routine == 3 {
                        // Its node died: the proxy answered 404, and it registered again on a live node.
                        #expect(record.reasons.first == "404", "\(record.reasons)")
                        #expect(record.ids.count >= 2 && record.ids.last?.routine != 3)
                        let split = record.reRegisteredAfter.first ?? record.received.count
                        let before = Array(record.received[..<split]), after = Array(record.received[split...])
                        #expect(before == messages(0..<before.count))
                        if let first = after.first.flatMap({ Int($0.dropFirst()) }) { #expect(after == messages(first..<total)) }
                    } else {
                        #expect(record.received == messages(0..<total))
                        #expect(record.ids.count == 1, "\(record.reasons)")
                    }
                }
            }
        }
    }

    @Test("without its header-line check, nginx forwards a header line without a colon: limits/005 WARNs, and FAILs under --strict")
    func colonlessHeaderWithoutCheck() async throws {
        try await withCluster(nodes: 3) { _, nodes in
            try await Self.withNginx(nodes, headerCheck: false) { proxy in
                for strict in [false, true] {
                    var options = RunOptions(pollURL: "http://127.0.0.1:\(proxy)/poll")
                    options.publishURL = "http://127.0.0.1:\(nodes[0].adminPort)/publish/poll"
                    options.strict = strict
                    let runner = ConformanceRunner(catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.all, settings: try options.settings())
                    let selection = CaseSelection(include: [try Glob("limits/005")])
                    let client = try WireClient()
                    let results = await runner.run(selection, client: client)
                    await client.shutdown()
                    let result = try #require(results.first)
                    #expect(results.count == 1)
                    #expect(result.outcome == (strict ? .fail : .warn), "\(result.outcome.rawValue): \(result.reason ?? "")")
                    // The garbage request line got nginx's own 400 and close; the line without a colon
                    // reached a node as an empty header, and the handshake was answered.
                    #expect(result.finding?.requirement == "RL-5")
                    #expect(result.finding?.expected == "400 for a header line without a colon", "\(String(describing: result.finding))")
                    #expect(result.finding?.actual.hasPrefix("200") == true, "\(String(describing: result.finding))")
                }
            }
        }
    }

    /// The conformance tester's settings for the cluster: B, T and E as the nodes run them.
    static let buffer = 20, timeout = 2.0, expiry = 3.0

    @Test("gpoll-conform --strict passes against three nodes behind nginx")
    func conformance() async throws {
        // The suite judges timing (T, E, "at once"): it takes its turn with the other heavy runs.
        try await LoadGate.exclusive { try await Self.runConformance() }
    }

    static func runConformance() async throws {
        let database = try await PostgresServer.start()
        var nodes: [NodeProcess] = []
        do {
            for index in 1...3 {
                nodes.append(try await NodeProcess.start(
                    name: "node\(index)", prefix: UInt32(index), database: database.url, pollTimeout: Int(Self.timeout),
                    extra: ["--endpoint", "/poll", "--endpoint", "/poll2", "--client-buffer", String(Self.buffer),
                            "--idle-expiry", String(Self.expiry)]))
            }
            try await Self.withNginx(nodes) { proxy in
                var options = RunOptions(pollURL: "http://127.0.0.1:\(proxy)/poll")
                // Any node's admin listener publishes to the whole cluster: take the first and the second.
                options.publishURL = "http://127.0.0.1:\(nodes[0].adminPort)/publish/poll"
                options.secondEndpoint = "http://127.0.0.1:\(proxy)/poll2"
                options.secondPublishURL = "http://127.0.0.1:\(nodes[1].adminPort)/publish/poll2"
                options.clientBuffer = Self.buffer
                options.pollTimeout = Self.timeout
                options.idleExpiry = Self.expiry
                options.strict = true
                let client = try WireClient()
                let runner = ConformanceRunner(catalog: EmbeddedCatalog.catalog, registry: CaseRegistry.all, settings: try options.settings())
                // Every case, limits/005 (RL-5) included: the configuration's header-line check answers
                // the line without a colon that nginx would forward (colonlessHeaderWithoutCheck).
                let results = await runner.run(CaseSelection(), client: client)
                await client.shutdown()
                #expect(results.count == EmbeddedCatalog.catalog.activeCases(on: .server).count)
                #expect(results.filter { $0.outcome == .pass }.count > results.count / 2)
                for result in results where result.outcome != .skip {
                    var text = "\(result.outcome.rawValue) \(result.id)"
                    if let reason = result.reason { text += " reason: \(reason)" }
                    if let finding = result.finding { text += " [\(finding.requirement ?? "-")] expected \(finding.expected); got \(finding.actual)" }
                    #expect(result.outcome == .pass, "\(text)\n\(ConsoleReport.render(result.transcript.suffix(12), indent: "   "))")
                }
            }
        } catch {
            for node in nodes { await node.kill() }
            await database.stop()
            throw error
        }
        for node in nodes { await node.stop() }
        await database.stop()
    }
}
