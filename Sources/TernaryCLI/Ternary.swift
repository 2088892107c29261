import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Ternary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ternary",
        abstract: "Run ternary-weight (1.58-bit) language models on the CPU.",
        subcommands: [Generate.self, Pack.self, Export.self, Tokenize.self, Perplexity.self, Inspect.self, Bench.self, Synth.self, Chat.self, Serve.self],
        defaultSubcommand: nil)

    /// As ArgumentParser's, but an error never prints on an unfinished progress bar's line, and the
    /// interrupt signals are delivered (a parent may start us with them blocked, as Foundation's
    /// Process does; Ctrl-C must still end a reply, and SIGTERM still clean up a pack).
    static func main() {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            ProgressBar.endLine()
            exit(withError: error)
        }
    }
}
