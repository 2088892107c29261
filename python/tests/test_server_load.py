"""A bounded load test of `ternary serve` on loopback: 64 concurrent streaming requests on 8 slots,
one client in ten hanging up mid-stream, a third asking for log-probabilities and some for their
prompt echoed and scored, malformed requests mixed in. Every stream that is read to
the end must be well-formed server-sent events ending with `data: [DONE]`, none may be lost, the
server must stay up with its slots freed, and its RSS must stay within a bound stated from the
model's size and the slots' memory."""
import http.client
import json
import os
import random
import re
import threading
import time
import urllib.parse
import urllib.request

from conftest import ServerProcess

STREAMS = 64
PARALLEL = 8
CONTEXT = 256
MAX_TOKENS = 24
HANG_UP_EVERY = 10  # clients 0, 10, 20, ... disconnect after their first event
LOGPROBS_EVERY = 3  # clients 1, 4, 7, ... ask for two alternatives per token
ECHO_EVERY = 7      # clients 2, 9, 16, ... for their prompt echoed and scored too (what an eval harness sends)

MALFORMED = [
    b"{",                                                      # bad JSON
    b'{"prompt": 3}',                                          # wrong type
    b'{"prompt": "x", "max_tokens": -5}',                      # absurd value
    b'{"prompt": "x", "temperature": "hot"}',                  # wrong type
    b'{"prompt": "x", "n": 2}',                                # unsupported n
    b'{"prompt": "x", "frobnicate": true}',                    # unknown field
    b'{"messages": []}',                                       # chat without messages on /v1/completions
    b"[1, 2, 3]",                                              # not an object
    b'{"prompt": "\\ud800"}',                                  # lone surrogate escape
    b"\xff\xfe\x00garbage",                                    # not UTF-8
]


def _stream(url: str, index: int, results: dict) -> None:
    """One streaming client; records what it read and whether the stream was whole."""
    target = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
    body = {"prompt": f"Citizen {index}:", "max_tokens": MAX_TOKENS, "stream": True, "seed": index,
            "stream_options": {"include_usage": True}}
    if index % LOGPROBS_EVERY == 1:
        body["logprobs"] = 2
    if index % ECHO_EVERY == 2:
        body.update(echo=True, logprobs=1)
    try:
        connection.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            results[index] = ("status", response.status, response.read())
            return
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        events, buffer = [], b""
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                events.append(event.decode())
            if index % HANG_UP_EVERY == 0 and events:
                connection.close()  # hang up mid-stream
                results[index] = ("hung up", events)
                return
        results[index] = ("done", events, buffer)
    except Exception as error:  # recorded, asserted on below
        results[index] = ("exception", repr(error))
    finally:
        connection.close()


def _malformed(url: str, body: bytes, statuses: list) -> None:
    request = urllib.request.Request(url + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            statuses.append((body, response.status, response.read()))
    except urllib.error.HTTPError as error:
        statuses.append((body, error.code, error.read()))


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def test_64_streams_on_8_slots_with_hang_ups_and_malformed_requests(ternary_bin):
    with ServerProcess(ternary_bin, "-np", str(PARALLEL), "--ctx-size", str(CONTEXT), "-t", "2", "--queue", "64") as server:
        deadline = time.time() + 10
        while not any("loaded" in line for line in server.lines) and time.time() < deadline:
            time.sleep(0.05)
        start_line = next(line for line in server.lines if "loaded" in line)
        kv_mib = float(re.search(r"([\d.]+) MiB in all", start_line).group(1))
        idle_rss = server.rss_bytes()

        peak = [idle_rss]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                peak[0] = max(peak[0], server.rss_bytes())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        results: dict = {}
        statuses: list = []
        threads = [threading.Thread(target=_stream, args=(server.url, i, results)) for i in range(STREAMS)]
        rng = random.Random(7)
        extra = [threading.Thread(target=_malformed, args=(server.url, body, statuses)) for body in MALFORMED]
        everyone = threads + extra
        rng.shuffle(everyone)
        for thread in everyone:
            thread.start()
        for thread in everyone:
            thread.join(timeout=600)
        sampling.set()
        sampler.join()

        assert all(not t.is_alive() for t in everyone), "a client never finished"
        assert server.process.poll() is None, "the server died"
        assert len(results) == STREAMS

        for body, status, reply in statuses:
            assert status == 400, (body, status, reply)
            error = json.loads(reply)["error"]
            assert error["message"] and error["type"] == "invalid_request_error"

        hung_up = [i for i in results if results[i][0] == "hung up"]
        assert len(hung_up) == STREAMS // HANG_UP_EVERY + 1
        for index, outcome in results.items():
            if index in hung_up:
                continue
            assert outcome[0] == "done", (index, outcome)
            _, events, rest = outcome
            assert rest == b"", f"stream {index} ended mid-event: {rest!r}"
            assert events[-1] == "data: [DONE]", (index, events[-3:])
            chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
            assert all(e.startswith("data: ") for e in events)
            assert all(c["object"] == "text_completion" and c["id"] == chunks[0]["id"] for c in chunks)
            finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
            assert finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1])
            usage = chunks[-1]["usage"]
            assert chunks[-1]["choices"] == [] and 1 <= usage["completion_tokens"] <= MAX_TOKENS
            # Log-probabilities, when asked: one entry per token, the echoed prompt's included.
            tokens = [t for c in chunks if c["choices"] and c["choices"][0]["logprobs"] for t in c["choices"][0]["logprobs"]["tokens"]]
            echoed = index % ECHO_EVERY == 2
            asked = echoed or index % LOGPROBS_EVERY == 1
            assert len(tokens) == (usage["completion_tokens"] + (usage["prompt_tokens"] if echoed else 0) if asked else 0), index

        # The hung-up streams were stopped and every slot is free again.
        deadline = time.time() + 30
        while _metric(server.url, "ternary_active_sequences") != 0 and time.time() < deadline:
            time.sleep(0.1)
        assert _metric(server.url, "ternary_active_sequences") == 0
        assert _metric(server.url, "ternary_queued_requests") == 0
        assert _metric(server.url, "ternary_requests_total") >= STREAMS
        with urllib.request.urlopen(server.url + "/health", timeout=30) as response:
            assert response.status == 200

        # Memory: the start-up RSS (runtime, mapped model pages touched while loading) plus every
        # slot's full KV cache, the model file mapped in whole, and 64 MiB for buffers and
        # connections. Growth past that would be a leak per request.
        model_bytes = os.path.getsize(os.path.join(os.path.dirname(__file__), "..", "..", "models", "shakespeare-ternary.safetensors"))
        bound = idle_rss + model_bytes + kv_mib * 2**20 + 64 * 2**20
        print(f"RSS idle {idle_rss / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB, bound {bound / 2**20:.0f} MiB")
        assert peak[0] <= bound, f"peak RSS {peak[0] / 2**20:.0f} MiB over the bound {bound / 2**20:.0f} MiB"
        assert server.stop() == 0
