import Foundation
import GPollConformance
import Testing

/// --reproduce: the scripts are valid bash, and replaying one against a fresh server
/// with the same defect shows the defect (with the ids that server gives).
@Suite(.serialized) struct ReproduceTests {
    static func bash() throws -> String {
        try #require(External.find("bash"), "bash is not installed")
    }

    /// Runs `cases` against a fake server with `defects` with --reproduce into `directory`.
    static func generate(_ cases: [String], defects: Set<FakeDefect>, into directory: String) async throws -> CommandLineRun.Result {
        try await CommandLineRun.withServer(defects) { server in
            var options = CommandLineRun.options(for: server, cases: cases)
            options.reproduce = directory
            return await CommandLineRun.run(options)
        }
    }

    /// Runs a script against a fresh fake server with `defects`.
    static func replay(_ script: String, defects: Set<FakeDefect>) async throws -> External.Finished {
        try await CommandLineRun.withServer(defects) { server in
            try await External.run(try bash(), [script], environment: [
                "SERVER": "127.0.0.1:\(server.port)",
                "PUBLISH_HEADER_1": "Authorization: Bearer \(server.config.publishToken)",
            ], timeout: .seconds(60))
        }
    }

    /// poll/002 publishes two messages and expects them one per poll; a server that
    /// batches answers both in one body. The replay reads the new handshake's id (a
    /// stale id would get 404 from a fresh server) and shows the batched body; the
    /// same script against a correct server shows the first message alone.
    @Test func replayShowsTheDefect() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = try await Self.generate(["poll/002"], defects: [.batchesMessages], into: scratch.path)
        #expect(run.exitCode == 1, "\(run.text)")
        let path = scratch.file("poll-002.sh")
        let script = try String(contentsOfFile: path, encoding: .utf8)
        #expect(run.text.contains("1 replay script in \(scratch.path)"), "\(run.text)")
        #expect(script.contains("[PO-2]"), "the script names the requirement")
        #expect(!script.contains("Bearer secret"), "publish credentials stay out of the script")
        let syntax = try await External.run(try Self.bash(), ["-n", path], timeout: .seconds(20))
        #expect(syntax.status == 0, "bash -n: \(syntax.stderr)")

        // The two messages the case published, from its request bodies.
        let m1 = try #require(script.range(of: "gc[a-z0-9]+c[0-9]+-1", options: .regularExpression).map { String(script[$0]) })
        let m2 = m1.dropLast() + "2"

        let defective = try await Self.replay(path, defects: [.batchesMessages])
        #expect(!defective.timedOut && defective.status == 0, "\(defective.stdout)\n\(defective.stderr)")
        #expect(defective.stderr.isEmpty, "bash complained: \(defective.stderr)")
        #expect(defective.stdout.contains("< c1 \(m1)\(m2)"), "the batched body:\n\(defective.stdout)")
        #expect(!defective.stdout.contains("404"), "a stale id would get 404:\n\(defective.stdout)")
        #expect(defective.stdout.contains("expected:"), "it ends with what to look at:\n\(defective.stdout)")

        let correct = try await Self.replay(path, defects: [])
        let exchange = correct.stdout.components(separatedBy: "=== poll/002").first ?? ""
        #expect(exchange.contains("< c1 \(m1)\n"), "one message per poll:\n\(correct.stdout)")
        #expect(!exchange.contains("\(m1)\(m2)"), "\(correct.stdout)")
    }

    /// Many kinds of exchange (raw bytes, a 70 KB target, HEAD, pipelining, waiting
    /// polls, closes): every script passes `bash -n` and replays to its end against a
    /// server with the same defects, without a bash error and within its time.
    @Test func everyScriptIsValidBashAndRunsToItsEnd() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let defects: Set<FakeDefect> = [.noCacheControl, .batchesMessages, .no414, .headConsumes, .noNotFound,
                                        .fanOutToPolls, .lossOnDisconnect, .textPlainHandshake]
        let cases = ["transport/*", "param/00[1-5]", "limits/00[3-5]", "poll/002", "notfound/00[1-3]", "concurrent/*",
                     "disconnect/*", "handshake/006"]
        let run = try await Self.generate(cases, defects: defects, into: scratch.path)
        let scripts = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasSuffix(".sh") }.sorted()
        #expect(scripts.count >= 8, "\(scripts)\n\(run.text)")
        var bodies = ""
        for name in scripts {
            let path = scratch.file(name)
            bodies += try String(contentsOfFile: path, encoding: .utf8)
            let syntax = try await External.run(try Self.bash(), ["-n", path], timeout: .seconds(20))
            #expect(syntax.status == 0, "bash -n \(name): \(syntax.stderr)")
        }
        #expect(bodies.contains("\ncurl "), "some exchanges are curl commands")
        #expect(bodies.contains("\nsend c"), "some are printf into /dev/tcp")
        for name in scripts {
            let replayed = try await Self.replay(scratch.file(name), defects: defects)
            #expect(!replayed.timedOut, "\(name) did not end")
            #expect(replayed.stderr.isEmpty, "\(name): \(replayed.stderr)")
            #expect(replayed.stdout.contains("Compare with the answers above."), "\(name):\n\(replayed.stdout.suffix(2000))")
        }
    }
}

