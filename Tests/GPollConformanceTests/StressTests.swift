import Foundation
@testable import GPollConformance
import GPollCore
import GPollServer
import GPollTestSupport
import Testing

/// The stress tier through the gpoll-conform binary: stress/001 holds 10,000
/// connections on each side, more than one process's file limit holds for both, so
/// the tester runs in a process of its own here. The test command runs this suite
/// alone, after the others (README, "Test"): beside them on two cores it starved the
/// whole test process.
@Suite(.serialized) struct StressTests {
    init() {
        // The fake server here holds 10,000 connections (the binary raises its own limit).
        FileDescriptorLimit.raiseToHardLimit()
    }

    @Test func stress001FailsAServerThatLosesRegistrationsAndPassesACorrectOne() async throws {
        try await LoadGate.exclusive {
            for (defects, wanted) in [([FakeDefect.losesRegistrations], Int32(1)), ([], Int32(0))] {
                // T = 30 s and no expiry: every poll stays waiting while 10,000 clients register.
                var config = FakeGPollServer.Config(defects: Set(defects))
                config.pollTimeout = .seconds(30)
                config.idleExpiry = nil
                let server = FakeGPollServer(config)
                try await server.start()
                let (code, output) = try await ReferenceTests.runBinary([
                    server.pollURL, "--publish-url", server.publishURL,
                    "--publish-header", "Authorization: Bearer \(server.config.publishToken)",
                    "--client-buffer", String(server.config.clientBuffer), "--poll-timeout", "30", "--idle-expiry", "0",
                    "--stress", "--case", "stress/001"])
                await server.stop()
                #expect(code == .exited(wanted), "\(defects): \(output.suffix(1500))")
                #expect(output.contains(wanted == 0 ? "1 passed, 0 failed" : "0 passed, 1 failed"), "\(output.suffix(600))")
                if wanted == 1 { #expect(output.contains("[ID-4] MUST"), "\(output.suffix(600))") }
            }
        }
    }

    @Test func referenceServerPassesTheStressTier() async throws {
        try await LoadGate.exclusive {
            let configuration = BroadcasterConfiguration(clientBufferCapacity: 100, pollTimeout: .seconds(30))
            let server = try GPollServer(
                configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0)),
                endpoints: [try GPollEndpoint(path: "/poll", configuration: configuration)])
            try await server.start()
            let (code, output) = try await ReferenceTests.runBinary([
                "http://127.0.0.1:\(server.port!)/poll", "--publish-url", "http://127.0.0.1:\(server.adminPort!)/publish/poll",
                "--client-buffer", "100", "--poll-timeout", "30", "--strict", "--stress", "--case", "stress/*"])
            await server.shutdown()
            #expect(code == .exited(0), "\(output.suffix(1500))")
            #expect(output.contains("3 passed, 0 failed"), "\(output.suffix(600))")
        }
    }
}
