import GPollTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The child-process helpers the other test targets rely on: what they collect, how
/// they end a program at its deadline, and how a long-running child is signalled.
@Suite struct ProgramTests {
    @Test func collectsOutputErrorAndExitCodeWithTheGivenEnvironment() async throws {
        let run = try await Program.run("/bin/sh", ["-c", #"printf '%s' "$GPOLL_PROGRAM_TEST"; echo oops >&2; exit 3"#],
                                        environment: ["GPOLL_PROGRAM_TEST": "from the test"], timeout: .seconds(60))
        #expect(run.status == .exited(3))
        #expect(run.stdout == "from the test")
        #expect(run.stderr == "oops\n")
        #expect(!run.timedOut)
    }

    @Test func combinedWithOutputInterleavesBothStreams() async throws {
        let run = try await Program.run("/bin/sh", ["-c", "echo one; echo two >&2; echo three"],
                                        timeout: .seconds(60), standardError: .combinedWithOutput)
        #expect(run.status == .exited(0))
        #expect(run.stdout == "one\ntwo\nthree\n")
        #expect(run.stderr.isEmpty)
    }

    @Test func aProgramPastItsDeadlineIsKilled() async throws {
        let run = try await Program.run("/bin/sh", ["-c", "echo started; exec sleep 60"], timeout: .milliseconds(500))
        #expect(run.timedOut)
        #expect(run.status == .signaled(SIGKILL))
        #expect(run.stdout == "started\n", "what it wrote before the deadline is kept")
    }

    /// A grandchild that inherited the pipes (a browser's helpers, a script's background
    /// job) must not keep the run waiting once the program itself has ended.
    @Test func aGrandchildHoldingThePipesDoesNotHoldTheRun() async throws {
        let run = try await Program.run("/bin/sh", ["-c", "sleep 60 & echo $!"], timeout: .seconds(60))
        let grandchild = try #require(run.stdout.split(separator: "\n").first.flatMap { pid_t($0) })
        defer { kill(grandchild, SIGKILL) }
        #expect(run.status == .exited(0))
        #expect(!run.timedOut)
        #expect(kill(grandchild, 0) == 0, "the grandchild still ran when the run returned")
    }

    @Test func outputPastTheLimitIsAnError() async throws {
        await #expect(throws: Program.OutputLimitExceeded.self) {
            try await Program.run("/bin/sh", ["-c", "head -c 5000 /dev/zero; exec sleep 60"], timeout: .seconds(60), limit: 1000)
        }
    }

    @Test func aMissingProgramIsAnError() async throws {
        await #expect(throws: (any Error).self) {
            try await Program.run("/nonexistent/program", timeout: .seconds(60))
        }
        #expect(Program.find("sh") != nil)
        #expect(Program.find("no-such-program-gpoll") == nil)
    }

    #if os(Linux)
    /// The child inherits none of the test process's descriptors: Subprocess closes them
    /// (with close_range, where Foundation's Process walked /proc/self/fd and crashed
    /// when thousands were open). Only a few hundred here: every suite shares this
    /// process and its descriptor limit.
    @Test func theChildInheritsNoDescriptors() async throws {
        let open = (0..<256).map { _ in Glibc.open("/dev/null", O_RDONLY) }.filter { $0 >= 0 }
        defer { for descriptor in open { close(descriptor) } }
        try #require(open.count == 256, "could open only \(open.count) descriptors")
        let run = try await Program.run("/bin/sh", ["-c", "ls /proc/self/fd | wc -l"], timeout: .seconds(60))
        #expect(run.status == .exited(0))
        // stdin, stdout, stderr and the directory ls reads, give or take one.
        #expect((Int(run.stdout.split(separator: "\n").first ?? "") ?? .max) < 10, "the child inherited: \(run.stdout)")
    }
    #endif

    @Test func aRunningProgramIsReadSignalledAndWaitedFor() async throws {
        let child = try await RunningProgram.start("/bin/sh", ["-c", #"trap 'echo terminated; exit 7' TERM; echo ready; while :; do sleep 0.05; done"#])
        var lines = child.lines.makeAsyncIterator()
        #expect(await lines.next() == "ready")
        #expect(kill(child.processIdentifier, 0) == 0, "its pid is the running child's")
        #expect(child.send(.terminate))
        #expect(await lines.next() == "terminated")
        #expect(try await child.wait() == .exited(7))
        #expect(!child.send(.terminate), "no signal once it has ended")
        await child.stop()
    }

    @Test func stopKillsABusyChild() async throws {
        let child = try await RunningProgram.start("/bin/sh", ["-c", "while :; do :; done"])
        await child.stop()
        #expect(try await child.wait() == .signaled(SIGKILL))
    }
}
