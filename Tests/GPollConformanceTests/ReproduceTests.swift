import Foundation
@testable import GPollConformance
import GPollSpec
import GPollTestSupport
@testable import GPollWire
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// --reproduce: the scripts are valid bash, and replaying one against a fresh server
/// with the same defect shows the defect (with the ids that server gives).
@Suite(.serialized) struct ReproduceTests {
    static func bash() throws -> String {
        try #require(Program.find("bash"), "bash is not installed")
    }

    /// Runs `cases` against a fake server with `defects` with --reproduce into `directory`.
    static func generate(_ cases: [String], defects: Set<FakeDefect>, into directory: String) async throws -> CommandLineRun.Result {
        try await CommandLineRun.withServer(defects) { server in
            var options = CommandLineRun.options(for: server, cases: cases)
            options.reproduce = directory
            return await CommandLineRun.run(options)
        }
    }

    /// Runs a script against a fresh fake server with `defects`, without idle expiry:
    /// a script is bash and curl, and on a loaded machine its steps can take longer
    /// than the fake's 1.5 s E, which would answer the poll 404 (expired) instead of
    /// showing what the replay is about.
    static func replay(_ script: String, defects: Set<FakeDefect>) async throws -> Program.Finished {
        try await CommandLineRun.withServer(defects, idleExpiry: nil) { server in
            try await Program.run(try bash(), [script], environment: [
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
        let syntax = try await Program.run(try Self.bash(), ["-n", path], timeout: .seconds(20))
        #expect(syntax.status == .exited(0), "bash -n: \(syntax.stderr)")

        // The two messages the case published, from its request bodies.
        let m1 = try #require(script.range(of: "gc[a-z0-9]+c[0-9]+-1", options: .regularExpression).map { String(script[$0]) })
        let m2 = m1.dropLast() + "2"

        let defective = try await Self.replay(path, defects: [.batchesMessages])
        #expect(!defective.timedOut && defective.status == .exited(0), "\(defective.stdout)\n\(defective.stderr)")
        #expect(defective.stderr.isEmpty, "bash complained: \(defective.stderr)")
        #expect(defective.stdout.contains("< c1 \(m1)\(m2)"), "the batched body:\n\(defective.stdout)")
        #expect(!defective.stdout.contains("HTTP/1.1 404"), "a stale id would get 404:\n\(defective.stdout)")
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
            let syntax = try await Program.run(try Self.bash(), ["-n", path], timeout: .seconds(20))
            #expect(syntax.status == .exited(0), "bash -n \(name): \(syntax.stderr)")
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

    /// Every byte value, shell metacharacters and a long run of one byte are sent
    /// exactly as recorded (and nothing in them is run by bash); hostile text in the
    /// finding and the run's target stays in comments and the quoted heredoc.
    @Test func rawBytesReplayExactly() async throws {
        let recorder = try await ByteRecorder.start()
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let marker = scratch.file("pwned")
        let sent = Array(0...255).map(UInt8.init) + Array("'$(touch \(marker))`touch \(marker)`%s%%\\\\x41\"\n".utf8)
            + Array(repeating: UInt8(ascii: "a"), count: 100) + [0, 0x0D, 0x0A]
        let endpoint = try Endpoint("http://127.0.0.1:\(recorder.port)/poll")
        let transcript = [
            Transcript.Entry(milliseconds: 0, connection: "c1", direction: ">", text: "raw bytes: ...",
                             sent: Transcript.Sent(endpoint: endpoint.url, hostHeader: endpoint.hostHeader, method: nil,
                                                   target: [], headers: [], body: [], bytes: sent)),
            Transcript.Entry(milliseconds: 100, connection: "c1", direction: "*", text: "no response yet"),
            Transcript.Entry(milliseconds: 110, connection: "c1", direction: "*", text: "closing (FIN)"),
        ]
        let finding = Finding(requirement: "TR-1", level: .must, expected: "GPOLL_CONFORM_FINDING\n$(touch \(marker))",
                              actual: JUnitOutputTests.hostile)
        let result = CaseResult(id: "limits/005", title: "T'itle $(touch \(marker)) <x>", section: 15, level: .must,
                                requirements: ["TR-1"], outcome: .fail, finding: finding, transcript: transcript)
        let script = ReproduceScript.script(for: result, catalog: EmbeddedCatalog.catalog, settings: Settings(pollURL: endpoint),
                                            run: JUnitOutputTests.info)
        let path = scratch.file("limits-005.sh")
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try await Program.run(try Self.bash(), ["-n", path], timeout: .seconds(20)).status == .exited(0))
        let run = try await Program.run(try Self.bash(), [path], timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(200))
        let received = await recorder.stop()
        #expect(run.status == .exited(0) && run.stderr.isEmpty, "\(run.stdout)\n\(run.stderr)")
        #expect(received == sent, "received \(received.count) bytes, sent \(sent.count); first difference at \(zip(received, sent).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(received.count, sent.count))")
        #expect(!FileManager.default.fileExists(atPath: marker), "bash ran text from the transcript")
        #expect(run.stdout.contains("(nothing within 0.1 s)"))
    }
}

extension ReproduceTests {
    /// A publish becomes `printf ... | curl --data-binary @-`: the printf half gives
    /// back the body byte for byte, also one that starts with `-` or holds `%`, `'`, `\`.
    @Test func curlBodyIsTheRecordedBody() async throws {
        let endpoint = try Endpoint("http://127.0.0.1:9/publish")
        let body = Array("-n '$(x)' %s %% \\\\ \u{1}\r\n".utf8) + [0, 0xFF]
        let request = WireRequest(method: "POST", target: "/publish", body: body)
        let transcript = [
            Transcript.Entry(milliseconds: 0, connection: "c1", direction: ">", text: "POST /publish",
                             sent: Transcript.Sent(endpoint: endpoint.url, hostHeader: endpoint.hostHeader, method: "POST",
                                                   target: request.target, headers: [], body: body,
                                                   bytes: request.serialized(host: endpoint.hostHeader))),
            Transcript.Entry(milliseconds: 3, connection: "c1", direction: "<", text: "HTTP/1.1 204 No Content\n(empty body)"),
        ]
        let result = CaseResult(id: "harness/004", title: "t", section: 16, level: .must, requirements: [], outcome: .fail,
                                transcript: transcript)
        let script = ReproduceScript.script(for: result, catalog: EmbeddedCatalog.catalog,
                                            settings: Settings(pollURL: try Endpoint("http://127.0.0.1:9/poll"), publishURL: endpoint),
                                            run: JUnitOutputTests.info)
        let line = try #require(script.split(separator: "\n").first { $0.contains("| curl ") }, "\(script)")
        let printf = String(line[..<line.range(of: " | curl ")!.lowerBound])
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try Data("\(printf) > \(scratch.file("body"))\n".utf8).write(to: URL(fileURLWithPath: scratch.file("run.sh")))
        let run = try await Program.run(try Self.bash(), [scratch.file("run.sh")], timeout: .seconds(20))
        #expect(run.status == .exited(0), "\(printf): \(run.stderr)")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: scratch.file("body")))) == body, "\(printf)")
        #expect(line.contains("-H 'Content-Type:'"), "no form Content-Type added by curl")
    }
}

/// A TCP listener that keeps every byte it receives and answers nothing.
final class ByteRecorder: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel = Mutex<(any Channel)?>(nil)
    private let bytes = Mutex<[UInt8]>([])

    var port: Int { channel.withLock { $0?.localAddress?.port ?? 0 } }

    final class Collect: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let recorder: ByteRecorder
        init(_ recorder: ByteRecorder) { self.recorder = recorder }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let chunk = Array(unwrapInboundIn(data).readableBytesView)
            recorder.bytes.withLock { $0 += chunk }
        }
    }

    static func start() async throws -> ByteRecorder {
        let recorder = ByteRecorder()
        let channel = try await ServerBootstrap(group: recorder.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collect(recorder)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        recorder.channel.withLock { $0 = channel }
        return recorder
    }

    func stop() async -> [UInt8] {
        try? await channel.withLock { $0 }?.close()
        try? await group.shutdownGracefully()
        return bytes.withLock { $0 }
    }
}
