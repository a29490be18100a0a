import GPollCore
import GPollTestSupport
import Synchronization
import Testing

/// Three `gpoll-server --cluster` nodes on a real PostgreSQL that the test starts.
/// Nodes are processes, so that one can be killed (SIGKILL) as a machine dies.
@Suite(.serialized, .enabled(if: PostgresServer.binaryDirectory != nil, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct ClusterTests {
    /// Each node's gpoll port by prefix, so a client polls the node its id names (what the proxy does).
    static func router(_ nodes: [NodeProcess]) -> @Sendable (ClientID) -> Int {
        let ports = Dictionary(uniqueKeysWithValues: nodes.map { ($0.prefix, $0.port) })
        return { id in ports[id.routine] ?? 1 }
    }

    @Test("a publish on node 1 reaches every client of nodes 1, 2 and 3, in order; each node hands out its prefix")
    func fanOut() async throws {
        try await withCluster(nodes: 3) { _, nodes in
            let route = Self.router(nodes)
            var clients: [(ClusterClient, NodeProcess)] = []
            for node in nodes {
                for encodes in [false, true] {
                    let client = ClusterClient(encodesDollar: encodes)
                    try await client.start(handshakePort: node.port, pollPort: route)
                    clients.append((client, node))
                }
            }
            defer { for (client, _) in clients { client.stop() } }
            for (client, node) in clients { #expect(client.record.ids.first?.routine == node.prefix) }

            // NF-3 across the cluster: a node answers 404 to another node's canonical id.
            let foreign = try #require(clients.first?.0.record.ids.first)
            let misrouted = try await httpRequest(port: nodes[1].port, target: "/poll?client-id=\(foreign)")
            #expect(misrouted.status == 404)

            for message in messages(0..<30) {
                #expect(await publish(message, adminPort: nodes[0].adminPort), "publish \(message) was not answered 204")
            }
            for (client, node) in clients {
                let complete = await client.wait { $0.received.count >= 30 }
                #expect(complete, "a client of \(node.name) got \(client.record.received.count) of 30")
                #expect(client.record.received == messages(0..<30), "client of \(node.name)")
                #expect(client.record.ids.count == 1, "client of \(node.name) registered again: \(client.record.reasons)")
            }
        }
    }

    @Test("a node killed during a run of publishes: the other nodes' clients get every message once, in order; its clients register again")
    func nodeKilled() async throws {
        try await withCluster(nodes: 3) { _, nodes in
            let route = Self.router(nodes)
            var survivors: [ClusterClient] = []
            var orphans: [ClusterClient] = []
            for node in nodes {
                for _ in 0..<2 {
                    let client = ClusterClient()
                    // A client whose node is gone registers again on node 1, as through the proxy.
                    try await client.start(handshakePort: node.port, reRegisterPort: nodes[0].port, pollPort: route)
                    if node.prefix == 3 { orphans.append(client) } else { survivors.append(client) }
                }
            }
            defer { for client in survivors + orphans { client.stop() } }

            let total = 60
            for (index, message) in messages(0..<total).enumerated() {
                if index == 20 { await nodes[2].kill() }
                // Alternate the publishing node: any node's admin listener feeds the whole cluster.
                #expect(await publish(message, adminPort: nodes[index % 2].adminPort), "publish \(message) was not answered 204")
            }
            for client in survivors {
                let complete = await client.wait { $0.received.count >= total }
                #expect(complete, "a survivor got \(client.record.received.count) of \(total)")
                #expect(client.record.received == messages(0..<total))
                #expect(client.record.ids.count == 1)
            }
            for client in orphans {
                let complete = await client.wait { $0.received.last == "m\(total - 1)" }
                let record = client.record
                #expect(complete, "an orphan ended at \(record.received.last ?? "nothing")")
                #expect(record.ids.count >= 2, "the dead node's client did not register again: \(record)")
                #expect(record.ids.last?.routine == 1)
                // Before its node died: a prefix of the run. After registering again: an
                // unbroken run up to the last message. Never a message twice or out of order.
                let split = record.reRegisteredAfter.last ?? record.received.count
                let before = Array(record.received[..<split]), after = Array(record.received[split...])
                #expect(before == messages(0..<before.count))
                if let first = after.first.flatMap({ Int($0.dropFirst()) }) {
                    #expect(after == messages(first..<total))
                    #expect(first >= before.count)
                }
            }
        }
    }

    @Test("PostgreSQL restarted during a run of publishes: nothing lost, order kept, the nodes say so in their log")
    func databaseRestarted() async throws {
        try await withCluster(nodes: 3) { database, nodes in
            let route = Self.router(nodes)
            var clients: [ClusterClient] = []
            for node in nodes {
                let client = ClusterClient()
                try await client.start(handshakePort: node.port, pollPort: route)
                clients.append(client)
            }
            defer { for client in clients { client.stop() } }

            let total = 40
            var retries = 0
            for (index, message) in messages(0..<total).enumerated() {
                // Down for 3 s: longer than a heartbeat interval, so every node notices.
                if index == 15 { try await database.restart(after: .seconds(3)) }
                // The publisher's side of the harness: a publish that was not answered 204
                // is sent again (the nodes answer 503 while the database is away).
                let deadline = ContinuousClock.now + .seconds(60)
                var published = await publish(message, adminPort: nodes[index % 3].adminPort)
                while !published && ContinuousClock.now < deadline {
                    retries += 1
                    try await Task.sleep(for: .milliseconds(100))
                    published = await publish(message, adminPort: nodes[index % 3].adminPort)
                }
                #expect(published, "publish \(message) never answered 204")
            }
            for (client, node) in zip(clients, nodes) {
                let complete = await client.wait { $0.received.last == "m\(total - 1)" }
                let received = client.record.received
                #expect(complete, "a client of \(node.name) ended at \(received.last ?? "nothing")")
                // A publish whose row was written but whose answer was lost is sent again, and then
                // arrives twice in a row; nothing else may repeat, go missing or change places.
                let collapsed = received.enumerated().filter { $0.offset == 0 || received[$0.offset - 1] != $0.element }.map(\.element)
                #expect(collapsed == messages(0..<total), "client of \(node.name)")
                #expect(received.count - collapsed.count <= retries)
                #expect(client.record.ids.count == 1, "client of \(node.name) registered again: \(client.record.reasons)")
            }
            for node in nodes {
                #expect(node.logLines.contains { $0.contains("database unreachable") }, "\(node.name) never logged the loss")
                // After the loss (the node logs the same line when it first connects).
                let returned = await eventually(within: .seconds(10)) {
                    let lines = node.logLines
                    guard let lost = lines.firstIndex(where: { $0.contains("database unreachable") }) else { return false }
                    return lines[lost...].contains { $0.contains("database reachable") }
                }
                #expect(returned, "\(node.name) never logged the return")
            }
        }
    }
}

extension ClusterTests {
    @Test("PostgreSQL frozen (SIGSTOP: connections open, no answers): the nodes say so within the query timeout and a publish is answered; after SIGCONT every client gets every message once, in order")
    func databaseFrozen() async throws {
        let queryTimeout = 2
        try await withCluster(nodes: 2, extra: ["--cluster-query-timeout", String(queryTimeout)]) { database, nodes in
            let route = Self.router(nodes)
            var clients: [ClusterClient] = []
            for node in nodes {
                let client = ClusterClient()
                try await client.start(handshakePort: node.port, pollPort: route)
                clients.append(client)
            }
            defer { for client in clients { client.stop() } }

            let before = messages(0..<10), after = messages(10..<20)
            for (index, message) in before.enumerated() {
                #expect(await publish(message, adminPort: nodes[index % 2].adminPort), "publish \(message) was not answered 204")
            }

            let stopped = database.freeze()
            defer { database.thaw() }  // whatever happens below, PostgreSQL runs again
            #expect(stopped.count > 1, "froze \(stopped) (the postmaster and its children)")
            // At once, before the node noticed: its statement goes out on the open connection
            // and gets no answer. It is answered (503), not left hanging: the request's own
            // limit is far beyond the publish timeout (10 s).
            let frozenPublish = try await httpRequest(port: nodes[0].adminPort, method: "POST", target: "/publish",
                                                      body: Array("frozen".utf8), within: .seconds(60))
            #expect(frozenPublish.status == 503)
            for node in nodes {
                let unready = await eventually { await readiness(node) == 503 }
                #expect(unready, "\(node.name)'s /readyz never turned 503 while the database was frozen")
                // The line may follow the readiness it explains by a moment.
                let logged = await eventually(within: .seconds(10)) {
                    node.logLines.contains { $0.contains("database unreachable") && $0.contains("did not answer within \(queryTimeout).0 s") }
                }
                #expect(logged, "\(node.name) did not log the timeout:\n\(node.logLines.suffix(20).joined(separator: "\n"))")
            }
            database.thaw()
            for node in nodes {
                let ready = await eventually { await readiness(node) == 200 }
                #expect(ready, "\(node.name)'s /readyz never came back to 200 after the database thawed")
                // After the loss (the node logs the same line when it first connects).
                let returned = await eventually(within: .seconds(10)) {
                    let lines = node.logLines
                    guard let lost = lines.firstIndex(where: { $0.contains("database unreachable") }) else { return false }
                    return lines[lost...].contains { $0.contains("database reachable") }
                }
                #expect(returned, "\(node.name) never logged the return")
            }
            for (index, message) in after.enumerated() {
                #expect(await publish(message, adminPort: nodes[index % 2].adminPort), "publish \(message) was not answered 204")
            }

            for (client, node) in zip(clients, nodes) {
                let complete = await client.wait { $0.received.last == after.last }
                let received = client.record.received
                #expect(complete, "a client of \(node.name) ended at \(received.last ?? "nothing")")
                // The publish answered 503 may still have been written (its statement was in the
                // frozen backend's socket, run when it woke): then once, like any other message.
                #expect(received.filter { $0 != "frozen" } == before + after, "client of \(node.name)")
                #expect(received.filter { $0 == "frozen" }.count <= 1, "client of \(node.name)")
                #expect(client.record.ids.count == 1, "client of \(node.name) registered again: \(client.record.reasons)")
            }
            // One order on every node, the 503 publish included if it was written.
            #expect(clients[0].record.received == clients[1].record.received)
        }
    }

    @Test("a node away longer than the retention: the rows it missed are pruned, so it evicts its clients, who register again; no gap goes unnoticed")
    func awayPastRetention() async throws {
        let database = try await PostgresServer.start()
        var nodes: [NodeProcess] = []
        do {
            for index in 1...3 {
                nodes.append(try await NodeProcess.start(name: "node\(index)", prefix: UInt32(index), database: database.url,
                                                         extra: ["--cluster-retention", "1"]))
            }
            let route = Self.router(nodes)
            let stay = ClusterClient(), away = ClusterClient()
            try await stay.start(handshakePort: nodes[0].port, pollPort: route)
            try await away.start(handshakePort: nodes[2].port, reRegisterPort: nodes[0].port, pollPort: route)
            defer { stay.stop(); away.stop() }

            let total = 30
            for (index, message) in messages(0..<total).enumerated() {
                // Node 3 frozen (SIGSTOP): it neither heartbeats nor reads, as if cut off
                // from the database. Publishes wait for it until its heartbeat is 3 s old.
                if index == 10 {
                    #expect(nodes[2].program.send(.suspend))
                }
                #expect(await publish(message, adminPort: nodes[0].adminPort), "publish \(message) was not answered 204")
            }
            // Rows are pruned 1 s after every live node applied them (node 3, frozen, is not
            // live): wait until the oldest row left is past what node 3 applied (at most m9).
            var oldest = ""
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                oldest = try await database.query("SELECT coalesce(min(seq), 0) FROM gpoll_messages")
                if let seq = Int(oldest), seq > 11 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect((Int(oldest) ?? 0) > 11, "the rows node 3 missed were never pruned (oldest row \(oldest))")
            #expect(nodes[2].program.send(.resume))
            let evicted = await away.wait { $0.ids.count >= 2 }
            #expect(evicted, "node 3's client was never evicted: \(away.record)")
            for message in messages(total..<(total + 10)) {
                #expect(await publish(message, adminPort: nodes[0].adminPort), "publish \(message) was not answered 204")
            }
            let all = messages(0..<(total + 10))
            #expect(await stay.wait { $0.received.count >= all.count })
            #expect(stay.record.received == all)
            #expect(await away.wait { $0.received.last == all.last })
            let record = away.record
            #expect(record.reasons.first == "404", "node 3's client was not evicted: \(record)")
            let split = record.reRegisteredAfter.first ?? record.received.count
            let before = Array(record.received[..<split]), after = Array(record.received[split...])
            #expect(before == messages(0..<before.count), "before the eviction")
            if let first = after.first.flatMap({ Int($0.dropFirst()) }) { #expect(after == messages(first..<all.count)) }
            #expect(nodes[2].logLines.contains { $0.contains("evicting this node's clients") })
        } catch {
            for node in nodes { await node.kill() }
            await database.stop()
            throw error
        }
        for node in nodes { await node.stop() }
        await database.stop()
    }
}

@Suite("the --cluster command line")
struct ClusterCommandTests {
    static func run(_ arguments: [String]) async throws -> (status: TerminationStatus, output: String) {
        let binary = try #require(gpollServerBinary, "build gpoll-server first")
        let run = try await Program.run(binary, ["--port", "0", "--admin-port", "0"] + arguments, timeout: .seconds(60), standardError: .combinedWithOutput)
        return (run.status, run.stdout)
    }

    @Test("bad cluster arguments exit 2 (a usage error) with a clear message", arguments: [
        (["--cluster", "http://db/gpoll", "--node-name", "a"], "must start with postgres://"),
        (["--cluster", "postgres://db/gpoll", "--node-name", "a"], "names no user"),
        (["--cluster", "postgres://u@db:99999/gpoll", "--node-name", "a"], "port"),
        (["--cluster", "postgres://u@db:5432/gpoll"], "node-name is needed with cluster"),
        (["--node-name", "a"], "node-name needs cluster"),
        (["--cluster", "postgres://u@db/gpoll", "--node-name", "a", "--node-prefix", "1000000000"], "node-prefix must be between 0 and 999999999"),
        (["--cluster", "postgres://u@db/gpoll", "--node-name", "a", "--cluster-query-timeout", "0"], "cluster-query-timeout must be more than 0 seconds"),
        (["--cluster", "postgres://u@db/gpoll?sslmode=verify", "--node-name", "a"], "sslmode must be one of disable, prefer, require, verify-full (got 'verify')"),
        (["--cluster", "postgres://u@db/gpoll?ssl=true", "--node-name", "a"], "unknown parameter 'ssl'"),
        (["--cluster", "postgres://u@db/gpoll?sslmode=require&sslrootcert=/ca.pem", "--node-name", "a"], "sslrootcert is used with sslmode=verify-full only"),
        (["--cluster", "postgres://u@db/gpoll?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "--node-name", "a"],
         "sslrootcert '/nonexistent/ca.pem' is not a readable PEM file"),
    ])
    func badArguments(arguments: [String], expected: String) async throws {
        let (status, output) = try await Self.run(arguments)
        #expect(status == .exited(2), "\(output)")
        #expect(output.contains(expected), "\(output)")
    }

    @Test("a database that cannot be reached at start: the node says so and exits non-zero")
    func unreachableAtStart() async throws {
        let port = try freePort()  // nothing listens there
        let (status, output) = try await Self.run(["--cluster", "postgres://u@127.0.0.1:\(port)/gpoll", "--node-name", "a"])
        #expect(status != .exited(0))
        #expect(output.contains("could not join the cluster"), "\(output)")
        #expect(!output.contains("gpoll listener started"))
        #expect(!output.contains("Assertion failed") && !output.contains("Fatal error"), "\(output)")
    }
}

/// TLS to the bus, by libpq's URL parameters, against a PostgreSQL with `ssl=on`.
@Suite(.serialized, .enabled(if: PostgresServer.binaryDirectory != nil, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct ClusterTLSTests {
    @Test("sslmode=prefer, require and verify-full (sslrootcert: the server's certificate) carry the cluster over TLS; verify-full against a root that did not sign the server's certificate does not join, and says why")
    func tls() async throws {
        let database = try await PostgresServer.start(tls: true)
        var nodes: [NodeProcess] = []
        do {
            let certificate = try #require(database.certificatePath)
            for (index, parameters) in ["sslmode=prefer", "sslmode=require", "sslmode=verify-full&sslrootcert=\(certificate)"].enumerated() {
                nodes.append(try await NodeProcess.start(name: "node\(index + 1)", prefix: UInt32(index + 1), database: database.url + "?" + parameters))
            }
            let route = ClusterTests.router(nodes)
            var clients: [ClusterClient] = []
            for node in nodes {
                let client = ClusterClient()
                try await client.start(handshakePort: node.port, pollPort: route)
                clients.append(client)
            }
            defer { for client in clients { client.stop() } }
            for (index, message) in messages(0..<10).enumerated() {
                #expect(await publish(message, adminPort: nodes[index % 3].adminPort), "publish \(message) was not answered 204")
            }
            for (client, node) in zip(clients, nodes) {
                #expect(await client.wait { $0.received.count >= 10 }, "a client of \(node.name) got \(client.record.received.count) of 10")
                #expect(client.record.received == messages(0..<10), "client of \(node.name)")
            }
            // Every connection of the nodes (two each: queries and LISTEN) is TLS; psql's own is left out.
            let others = "FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
            #expect(try await database.query("SELECT count(*) \(others) AND s.ssl") == "6")
            #expect(try await database.query("SELECT count(*) \(others) AND NOT s.ssl") == "0")

            // A root that did not sign the server's certificate: no connection, and the log says why.
            try await PostgresServer.makeSelfSignedCertificate(in: database.directory, name: "stranger")
            let binary = try #require(gpollServerBinary)
            let refused = try await Program.run(binary, [
                "--port", "0", "--admin-port", "0", "--node-name", "node4", "--node-prefix", "4",
                "--cluster", database.url + "?sslmode=verify-full&sslrootcert=\(database.directory)/stranger.crt",
            ], timeout: .seconds(60), standardError: .combinedWithOutput)
            #expect(refused.status != .exited(0) && !refused.timedOut, "\(refused.stdout)")
            #expect(refused.stdout.contains("could not join the cluster"), "\(refused.stdout)")
            #expect(refused.stdout.contains("CERTIFICATE_VERIFY_FAILED") && refused.stdout.contains("signed by sslrootcert"), "\(refused.stdout)")
            #expect(!refused.stdout.contains("gpoll listener started"))
        } catch {
            for node in nodes { await node.kill() }
            await database.stop()
            throw error
        }
        for node in nodes { await node.stop() }
        await database.stop()
    }
}
