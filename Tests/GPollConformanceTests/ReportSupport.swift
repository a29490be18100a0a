import Foundation
import NIOCore
@testable import GPollConformance
import Synchronization
import Testing

/// Runs gpoll-conform as its command line does (``ConformanceMain/run``) against a
/// fake server, for the tests of --repeat, --reproduce, --html and the reports.
enum CommandLineRun {
    struct Result {
        var exitCode: Int32
        var output: [String]
        var errors: [String]
        var text: String { output.joined(separator: "\n") }
    }

    static func options(for server: FakeGPollServer, cases: [String]) -> RunOptions {
        var options = RunOptions(pollURL: server.pollURL)
        options.publishURL = server.publishURL
        options.publishHeaders = ["Authorization: Bearer \(server.config.publishToken)"]
        options.secondEndpoint = server.secondURL
        options.secondPublishURL = server.secondPublishURL
        options.clientBuffer = server.config.clientBuffer
        options.pollTimeout = server.config.pollTimeout.map { Double($0.nanoseconds) / 1e9 }
        options.idleExpiry = server.config.idleExpiry.map { Double($0.nanoseconds) / 1e9 }
        options.maxClients = server.config.maxClients
        options.cases = cases
        options.timeout = 10
        options.settleMs = 100
        return options
    }

    static func run(_ options: RunOptions) async -> Result {
        let output = Mutex<[String]>([]), errors = Mutex<[String]>([])
        let code = await ConformanceMain.run(options, output: { line in output.withLock { $0.append(line) } },
                                             errorOutput: { line in errors.withLock { $0.append(line) } })
        return Result(exitCode: code, output: output.withLock { $0 }, errors: errors.withLock { $0 })
    }

    /// Starts a fake server with `defects`, runs `body` with it, and stops it.
    static func withServer<T>(_ defects: Set<FakeDefect>, idleExpiry: TimeAmount? = .milliseconds(1500),
                              _ body: (FakeGPollServer) async throws -> T) async throws -> T {
        let server = FakeGPollServer(FakeGPollServer.Config(defects: defects, idleExpiry: idleExpiry))
        try await server.start()
        do {
            let value = try await body(server)
            await server.stop()
            return value
        } catch {
            await server.stop()
            throw error
        }
    }
}

/// A scratch directory removed when the test is done with it.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-report-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
