import ArgumentParser
import Foundation

/// `gpoll`: listen to a gpoll endpoint, or publish through a harness publish URL.
@main
struct GPollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpoll",
        abstract: "See a gpoll endpoint at work: listen to its messages, or publish one.",
        discussion: """
            Examples, with the reference server (swift run gpoll-server) running:

              gpoll listen http://127.0.0.1:8080/poll
              gpoll listen --json --count 2 http://127.0.0.1:8080/poll
              gpoll publish http://127.0.0.1:8081/publish 'hello'
              date | gpoll publish http://127.0.0.1:8081/publish -

            Exit codes:
              0  stopped (SIGINT, SIGTERM, --count), or published
              1  unreachable or lost (listen: after --give-up-after failures)
              2  usage: a bad option or argument
              3  not a gpoll endpoint, or the publish URL refused the message
              4  TLS: the server's certificate is not trusted (see --ca-cert)
            """,
        subcommands: [Listen.self, Publish.self])

    /// ArgumentParser's usage errors exit 64 (EX_USAGE); gpoll documents 2, as most commands do.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exitCode as ExitCode {
            Foundation.exit(exitCode.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                StandardError.write(fullMessage(for: error) + "\n")
                Foundation.exit(ExitStatus.usage)
            }
            exit(withError: error)
        }
    }
}

/// The documented exit codes.
enum ExitStatus {
    static let lost: Int32 = 1
    static let usage: Int32 = 2
    static let notGPoll: Int32 = 3
    static let tls: Int32 = 4
}
