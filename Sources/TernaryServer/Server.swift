import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TernaryConvert
import TernaryFormat
import TernaryGeneration
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// How `ternary serve` runs.
public struct ServerOptions: Sendable {
    public var modelPath: String
    /// The `model` name responses carry (default: the file's name without extension).
    public var modelName: String
    public var host = "127.0.0.1"
    public var port = 8080
    /// Sequences decoded together (slots), each with its own memory of `contextSize` tokens.
    public var parallel = 4
    public var contextSize: Int?
    public var apiKey: String?
    public var threads = WorkerPool.coreCount
    public var kvPrecision: KVPrecision = .f16
    public var isa: KernelISA = .best
    public var chatTemplate: String?
    /// Largest request body, in bytes.
    public var maxBody = 8 << 20
    /// Requests waiting for a slot before new ones get 503.
    public var maxQueue = 64
    /// Seconds a request may run before its generation is cut (finish_reason "length").
    public var timeout: Double = 600
    /// Prompt tokens fed per step while others decode.
    public var prefillChunk = 64
    /// Seconds running requests get to finish after SIGINT/SIGTERM before they are cancelled.
    public var drainSeconds: Double = 10

    public init(modelPath: String) {
        self.modelPath = modelPath
        modelName = URL(fileURLWithPath: modelPath).deletingPathExtension().lastPathComponent
    }
}

/// The loaded model and what serves it.
final class Engine: Sendable {
    let scheduler: BatchScheduler
    let template: ChatTemplate
    let tokenizer: any Tokenizer
    let name: String
    let created = Int(Date().timeIntervalSince1970)

    init(scheduler: BatchScheduler, template: ChatTemplate, name: String) {
        self.scheduler = scheduler
        self.template = template
        tokenizer = scheduler.tokenizer
        self.name = name
    }
}

/// `ternary serve`: OpenAI-compatible endpoints over a `BatchScheduler`. The HTTP server starts at
/// once and answers /health with 503 until the model has loaded.
public enum TernaryHTTPServer {
    /// Serves until SIGINT/SIGTERM; `onEvent` receives lines for the console (listening, loaded).
    public static func run(_ options: ServerOptions, onEvent: @escaping @Sendable (String) -> Void) async throws {
        let state = ServerState()
        let router = Router()
        router.add(middleware: APIErrorMiddleware(bodyLimit: options.maxBody))
        Routes(options: options, state: state).register(on: router)
        var logger = Logger(label: "ternary.serve")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "ternary"),
            onServerRunning: { channel in
                onEvent("listening on http://\(options.host):\(channel.localAddress?.port ?? options.port)")
            },
            logger: logger)
        let loader = BackgroundModelLoad(options: options, state: state, onEvent: onEvent)
        // Shut down in reverse order: first the scheduler drains (running requests get
        // `drainSeconds` to finish, then are cancelled), then the HTTP server closes.
        let group = ServiceGroup(configuration: .init(services: [app, loader], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Whether the model is ready, and the engine once it is.
final class ServerState: Sendable {
    private let engine = Mutex<Engine?>(nil)
    private let failure = Mutex<String?>(nil)
    private let draining = Atomic<Bool>(false)
    let metrics = ServerMetrics()

    var current: Engine? { engine.withLock { $0 } }
    func set(_ e: Engine) { engine.withLock { $0 = e } }
    func fail(_ message: String) { failure.withLock { $0 = message } }
    var loadFailure: String? { failure.withLock { $0 } }
    var isDraining: Bool { draining.load(ordering: .relaxed) }
    func drain() { draining.store(true, ordering: .relaxed) }

    /// The engine, or 503 while loading or shutting down.
    func ready() throws -> Engine {
        if isDraining { throw APIError.unavailable("The server is shutting down", retryAfter: 5) }
        if let message = loadFailure { throw APIError.server("The model failed to load: \(message)") }
        guard let engine = current else { throw APIError.unavailable("Loading model", retryAfter: 1) }
        return engine
    }
}

/// Loads the model after the server is up, then waits for shutdown and drains the scheduler.
struct BackgroundModelLoad: Service {
    let options: ServerOptions
    let state: ServerState
    let onEvent: @Sendable (String) -> Void

    func run() async throws {
        let options = self.options
        do {
            let engine = try await Task.detached { () throws -> Engine in
                let model = try TernaryConvert.ModelLoader.load(path: options.modelPath, isa: options.isa)
                let scheduler = try BatchScheduler(model: model, slots: options.parallel, contextSize: options.contextSize,
                                                   threads: options.threads, kvPrecision: options.kvPrecision,
                                                   prefillChunk: options.prefillChunk, maxQueue: options.maxQueue)
                let template = try ChatTemplate.resolve(name: options.chatTemplate, tokenizer: scheduler.tokenizer)
                return Engine(scheduler: scheduler, template: template, name: options.modelName)
            }.value
            state.set(engine)
            let mib = Double(engine.scheduler.bytesPerSlot) / 1_048_576
            onEvent("model \(options.modelName) loaded: \(engine.scheduler.slotCount) slots × \(engine.scheduler.contextSize) tokens "
                    + "(\(String(format: "%.1f", mib)) MiB of KV cache each, \(String(format: "%.1f", mib * Double(engine.scheduler.slotCount))) MiB in all), "
                    + "chat template \(engine.template.rawValue)")
        } catch {
            state.fail("\(error)")
            onEvent("error: the model failed to load: \(error)")
        }
        try? await gracefulShutdown()
        state.drain()
        guard let engine = state.current else { return }
        let deadline = Date().addingTimeInterval(options.drainSeconds)
        while engine.scheduler.metrics.active + engine.scheduler.metrics.queued > 0, Date() < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        engine.scheduler.shutdown()
    }
}
