import ArgumentParser
import GPollConformance

/// What gpoll-conform talks to and how: the poll endpoint, the publish URL with
/// its headers, and TLS trust. One group, so that every mode of the tester names
/// its target with the same options.
struct TargetOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The poll endpoint, e.g. http://127.0.0.1:8080/poll (not needed with --list).", valueName: "poll-url"))
    var pollURL: String?

    @Option(help: ArgumentHelp("Publish URL (Spec's harness interface): POST with the raw message as the body, 2xx once offered to every client. Without it, publishing cases are skipped.", valueName: "url"))
    var publishURL: String?

    @Option(help: ArgumentHelp("A header sent with every publish, e.g. 'Authorization: Bearer TOKEN'. Repeatable.", valueName: "Name: value"))
    var publishHeader: [String] = []

    @Option(help: ArgumentHelp("Trust this CA (PEM) for an https target.", valueName: "pem"))
    var caCert: String?

    @Flag(help: "Do not verify the server's TLS certificate.")
    var insecure = false

    /// Copies everything but the poll URL (which `RunOptions` is made with) into `options`.
    func apply(to options: inout RunOptions) {
        options.publishURL = publishURL
        options.publishHeaders = publishHeader
        options.caCert = caCert
        options.insecure = insecure
    }
}
