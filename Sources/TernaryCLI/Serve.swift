import ArgumentParser
import Dispatch
import Foundation
import TernaryKernels
import TernaryModels
import TernaryServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over HTTP: OpenAI-compatible chat and text completions with continuous batching, and a chat page at /.",
        discussion: """
            Endpoints: POST /v1/chat/completions, POST /v1/completions (streaming with "stream": true), GET /v1/models, \
            GET /health, GET /metrics (Prometheus), POST /tokenize, POST /detokenize, GET / (a chat page). \
            SIGINT or SIGTERM stops taking requests, gives running ones --drain seconds, then exits.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on (0: any free port; the chosen one is printed).")
    var port = 8080

    @Option(name: [.customLong("np", withSingleDash: true), .long], parsing: .unconditional, help: "Sequences generated together (slots), each with its own context.")
    var parallel = 4

    @Option(name: [.customShort("c"), .customLong("ctx-size")], parsing: .unconditional, help: "Tokens each slot holds, prompt and reply (default: the model's context).")
    var contextSize: Int?

    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' on the API endpoints (default: $TERNARY_API_KEY, else none).")
    var apiKey: String?

    @Option(help: "Name the model is served under (default: the file's name).")
    var alias: String?

    @Option(name: .customLong("chat-template"), help: "Chat format: llama3, bitnet, chatml, llama2, mistral, speakers (default: detected from the model).")
    var chatTemplate: String?

    @Option(parsing: .unconditional, help: "Requests that may wait for a slot; more get 503 with Retry-After.")
    var queue = 64

    @Option(name: .customLong("max-body"), parsing: .unconditional, help: "Largest request body in bytes; larger ones get 413.")
    var maxBody = 8 << 20

    @Option(parsing: .unconditional, help: "Seconds a request may generate before it is cut (finish_reason length).")
    var timeout: Double = 600

    @Option(parsing: .unconditional, help: "Seconds running requests get to finish after SIGINT/SIGTERM.")
    var drain: Double = 10

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is invalid: expected 0...65535") }
        guard (1...256).contains(parallel) else { throw ValidationError("--parallel \(parallel) is invalid: expected 1...256") }
        if let contextSize, contextSize < 2 { throw ValidationError("--ctx-size \(contextSize) is invalid: expected at least 2") }
        guard (0...100_000).contains(queue) else { throw ValidationError("--queue \(queue) is invalid: expected 0...100000") }
        guard maxBody >= 1024 else { throw ValidationError("--max-body \(maxBody) is invalid: expected at least 1024") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout \(timeout) is invalid: expected a positive number of seconds") }
        guard drain >= 0, drain.isFinite else { throw ValidationError("--drain \(drain) is invalid: expected seconds >= 0") }
    }

    func run() throws {
        var options = ServerOptions(modelPath: try model.resolvedPath())
        if let alias { options.modelName = alias }
        options.host = host
        options.port = port
        options.parallel = parallel
        options.contextSize = contextSize
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["TERNARY_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        options.threads = cappedThreads(model.threads ?? WorkerPool.coreCount)
        options.kvPrecision = model.memoryOptions.kvPrecision
        options.isa = model.isa
        options.chatTemplate = chatTemplate
        options.prefillChunk = model.microBatch
        options.maxQueue = queue
        options.maxBody = maxBody
        options.timeout = timeout
        options.drainSeconds = drain
        let outcome = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await TernaryHTTPServer.run(options) { line in
                    print(line)
                    fflush(stdout)
                }
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }
}

private final class ServeOutcome: @unchecked Sendable {
    var error: Error?
}
