import ArgumentParser

@main
struct Ternary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ternary",
        abstract: "Run ternary-weight (1.58-bit) language models on the CPU.",
        subcommands: [Generate.self, Pack.self, Tokenize.self, Perplexity.self, Inspect.self, Bench.self, Synth.self, Chat.self],
        defaultSubcommand: nil)
}
