import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat
import TernaryGeneration
import TernaryModels
import TernaryTokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Encode text to token ids, or decode ids to text.")

    @Argument(help: "Text to encode (or, with --decode, a JSON array of ids).")
    var text: String?

    @Option(help: "Read the text from this file instead (\"-\": standard input).")
    var file: String?

    @Flag(help: "Replace bytes of the input that are not UTF-8 with U+FFFD instead of refusing it.")
    var lossy = false

    @Option(name: .shortAndLong, help: "Packed model whose tokenizer to use (default: the shipped model).")
    var model: String?

    @Option(help: "Tokenizer instead of a model: a directory (tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe) or a tokenizer.json, GGUF or llama2.c tokenizer.bin file.")
    var tokenizer: String?

    @Flag(help: "Print only a JSON array of ids on one line.")
    var ids = false

    @Flag(help: "Print each token's id and its piece as the vocabulary writes it (Ġworld, ▁world, <0x0A>).")
    var pieces = false

    @Flag(help: "Decode a JSON array of ids back to text.")
    var decode = false

    @Flag(help: "Parse special-token text in the input (<|endoftext|>, <|eot_id|>) as those tokens (llama.cpp's parse_special).")
    var special = false

    @Flag(name: .customLong("no-bos"), help: "Do not add the tokens the tokenizer puts around a sequence (BOS/EOS).")
    var noBOS = false

    @Option(help: "Render this conversation (a JSON array of {\"role\", \"content\"} messages) in the chat format and print it (with --ids: its token ids), ending with the assistant's turn.")
    var chat: String?

    @Option(name: .customLong("chat-template"), help: "Turn format for --chat (default: the one the tokenizer's template names).")
    var chatTemplate: String?

    @Flag(help: "Batch mode: each line of the input (--file, or stdin) is a JSON string to encode, printed as a JSON array of ids per line; with --decode, each line is an array of ids, printed as a JSON string.")
    var jsonl = false

    func run() throws {
        let tok: TextTokenizer
        if let tokenizer {
            tok = try TokenizerLoader.load(path: tokenizer)
        } else {
            let path = try ModelOptions.parse(model.map { ["-m", $0] } ?? []).resolvedPath()
            if GGUFFile.isGGUF(path: path) {
                tok = try TokenizerLoader.load(path: path)  // a GGUF model's tokenizer.ggml.*
            } else {
                guard let loaded = try PackedModelFile(path: path).tokenizer() else { throw ModelError.noTokenizer(path: path) }
                tok = loaded
            }
        }
        if jsonl { return try batch(tok) }
        if let chat { return try render(chat, tok) }
        let input: String
        if let file { input = try readTextFile(file, lossy: lossy) } else if let text { input = text } else {
            throw ValidationError("give the text as an argument or with --file")
        }
        if decode {
            guard case let .array(items)? = try? JSONParser().parse(input), let parsed = Optional(items.compactMap(\.integer)), parsed.count == items.count else {
                throw ValidationError("--decode expects a JSON array of integers, e.g. [15496, 995]")
            }
            print(try tok.decode(parsed), terminator: "")
            return
        }
        let tokens = tok.encode(input, addSpecialTokens: !noBOS, parseSpecial: special)
        if ids {
            print("[" + tokens.map(String.init).joined(separator: ",") + "]")
        } else {
            for id in tokens {
                let shown = pieces ? (tok.piece(id) ?? "?") : String(decoding: try tok.bytes(of: id), as: UTF8.self)
                print("\(id)\t\(shown.debugDescription)")
            }
            print("\(tokens.count) tokens")
        }
    }

    /// --jsonl: one JSON value per line in, one per line out.
    private func batch(_ tok: TextTokenizer) throws {
        let input = try readTextFile(file ?? "-", lossy: lossy)
        var out = ""
        for (n, line) in input.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let value: JSONValue
            do { value = try JSONParser().parse(String(line)) } catch { throw ValidationError("line \(n + 1): not valid JSON (\(error))") }
            if decode {
                guard case let .array(items) = value, let ids = Optional(items.compactMap(\.integer)), ids.count == items.count else {
                    throw ValidationError("line \(n + 1): expected a JSON array of token ids")
                }
                out += JSONValue.string(try tok.decode(ids)).serialized() + "\n"
            } else {
                guard case let .string(text) = value else { throw ValidationError("line \(n + 1): expected a JSON string") }
                out += "[" + tok.encode(text, addSpecialTokens: !noBOS, parseSpecial: special).map(String.init).joined(separator: ",") + "]\n"
            }
        }
        print(out, terminator: "")
    }

    /// --chat: a conversation rendered in the tokenizer's chat format.
    private func render(_ path: String, _ tok: TextTokenizer) throws {
        guard case let .array(items)? = try? JSONParser().parse(try readTextFile(path, option: "--chat")) else {
            throw ValidationError("--chat \(path): expected a JSON array of {\"role\": …, \"content\": …} messages")
        }
        let messages = try items.map { item -> ChatMessage in
            guard let role = item["role"]?.string, let content = item["content"]?.string else {
                throw ValidationError("--chat \(path): every message needs string 'role' and 'content'")
            }
            return ChatMessage(role: role, content: content)
        }
        let (text, tokens) = try ChatTemplate.resolve(name: chatTemplate, tokenizer: tok).prompt(messages, tokenizer: tok)
        if ids {
            print("[" + tokens.map(String.init).joined(separator: ",") + "]")
        } else {
            print(text, terminator: "")
        }
    }
}
