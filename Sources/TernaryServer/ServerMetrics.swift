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
        requests = registry.makeCounter(name: "ternary_requests_total", help: "Generation requests accepted")
        completions = registry.makeCounter(name: "ternary_completions_total", help: "Generation requests completed")
        promptTokens = registry.makeCounter(name: "ternary_prompt_tokens_total", help: "Prompt tokens of accepted requests")
        cachedTokens = registry.makeCounter(name: "ternary_prompt_cached_tokens_total", help: "Prompt tokens reused from a slot's cache")
        generatedTokens = registry.makeCounter(name: "ternary_generated_tokens_total", help: "Tokens generated")
        active = registry.makeGauge(name: "ternary_active_sequences", help: "Sequences being generated")
        queued = registry.makeGauge(name: "ternary_queued_requests", help: "Requests waiting for a slot")
        slots = registry.makeGauge(name: "ternary_slots", help: "Sequences that can be generated together (--parallel)")
        decodeRate = registry.makeGauge(name: "ternary_tokens_per_second", help: "Generated tokens per second of forward passes, since start")
        busy = registry.makeGauge(name: "ternary_busy_seconds", help: "Seconds spent in forward passes, since start")
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
