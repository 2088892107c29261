import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernaryFormat
import TernaryModels
import TernaryTokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Encode text to token ids, or decode ids to text.")

    @Argument(help: "Text to encode (or, with --decode, a JSON array of ids).")
    var text: String?

    @Option(help: "Read the text from this file instead.")
    var file: String?

    @Option(name: .shortAndLong, help: "Packed model whose tokenizer to use (default: the shipped model).")
    var model: String?

    @Option(help: "Tokenizer directory instead of a model (vocab.json + merges.txt, encoder.json + vocab.bpe, or tokenizer.json).")
    var tokenizer: String?

    @Flag(help: "Print only a JSON array of ids on one line.")
    var ids = false

    @Flag(help: "Decode a JSON array of ids back to text.")
    var decode = false

    @Flag(help: "Treat <|endoftext|> in the text as plain text, not the special token.")
    var noSpecial = false

    func run() throws {
        let bpe: BPETokenizer
        if let tokenizer {
            bpe = try BPETokenizer.load(directory: tokenizer)
        } else {
            let path = try ModelOptions.parse(model.map { ["-m", $0] } ?? []).resolvedPath()
            guard let loaded = try PackedModelFile(path: path).tokenizer() else { throw ModelError.noTokenizer(path: path) }
            bpe = loaded
        }
        let input: String
        if let file { input = try readTextFile(file) } else if let text { input = text } else {
            throw ValidationError("give the text as an argument or with --file")
        }
        if decode {
            guard let parsed = try? JSONDecoder().decode([Int].self, from: Data(input.utf8)) else {
                throw ValidationError("--decode expects a JSON array of integers, e.g. [15496, 995]")
            }
            print(try bpe.decode(parsed), terminator: "")
            return
        }
        let tokens = bpe.encode(input, allowSpecial: !noSpecial)
        if ids {
            print("[" + tokens.map(String.init).joined(separator: ",") + "]")
        } else {
            for id in tokens {
                let piece = String(decoding: try bpe.bytes(of: [id]), as: UTF8.self)
                print("\(id)\t\(piece.debugDescription)")
            }
            print("\(tokens.count) tokens")
        }
    }
}
