import Prometheus
import Synchronization
import TernaryGeneration

/// /metrics in Prometheus' text format: the scheduler's counters (requests, tokens, steps) and
/// gauges (active and queued sequences, decode throughput).
final class ServerMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let requests: Counter, promptTokens: Counter, cachedTokens: Counter, generatedTokens: Counter, completions: Counter
    private let active: Gauge, queued: Gauge, slots: Gauge, decodeRate: Gauge, busy: Gauge
    /// The scheduler totals already added to the counters.
    private let reported = Mutex(SchedulerMetrics())

    init() {
        // Names: ternary_<metric>_<unit>.
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "ternary", metricName: metric, unitName: unit, helpText: help)
        }
        requests = registry.makeCounter(descriptor: name("requests", "total", "Generation requests accepted"))
        completions = registry.makeCounter(descriptor: name("completions", "total", "Generation requests completed"))
        promptTokens = registry.makeCounter(descriptor: name("prompt_tokens", "total", "Prompt tokens of accepted requests"))
        cachedTokens = registry.makeCounter(descriptor: name("prompt_cached_tokens", "total", "Prompt tokens reused from a slot's cache"))
        generatedTokens = registry.makeCounter(descriptor: name("generated_tokens", "total", "Tokens generated"))
        active = registry.makeGauge(descriptor: name("active", "sequences", "Sequences being generated"))
        queued = registry.makeGauge(descriptor: name("queued", "requests", "Requests waiting for a slot"))
        slots = registry.makeGauge(descriptor: name("slots", "", "Sequences that can be generated together (--parallel)"))
        decodeRate = registry.makeGauge(descriptor: name("tokens_per", "second", "Generated tokens per second of forward passes, since start"))
        busy = registry.makeGauge(descriptor: name("busy", "seconds", "Seconds spent in forward passes, since start"))
    }

    func completed(_ summary: CompletionSummary) { completions.increment() }

    func render(_ scheduler: BatchScheduler?) -> String {
        if let scheduler {
            let now = scheduler.metrics
            reported.withLock { last in
                requests.increment(by: Int64(now.requests - last.requests))
                promptTokens.increment(by: Int64(now.promptTokens - last.promptTokens))
                cachedTokens.increment(by: Int64(now.cachedTokens - last.cachedTokens))
                generatedTokens.increment(by: Int64(now.generatedTokens - last.generatedTokens))
                last = now
            }
            active.set(Double(now.active))
            queued.set(Double(now.queued))
            slots.set(Double(scheduler.slotCount))
            busy.set(now.busySeconds)
            decodeRate.set(now.busySeconds > 0 ? Double(now.generatedTokens) / now.busySeconds : 0)
        }
        return registry.emitToString()
    }
}
