"""`ternary serve` driven by the official `openai` client: chat and text completions, streaming and
not, stop strings, seeds (alone or batched), usage, token log-probabilities, and the error cases of
OpenAI's API."""
import json
import threading
import urllib.error
import urllib.request

import openai
import pytest

from conftest import ServerProcess


@pytest.fixture(scope="module")
def server(ternary_bin):
    with ServerProcess(ternary_bin, "-np", "4", "--ctx-size", "256", "-t", "2") as s:
        yield s


def _post(url, body, headers=None, raw=False):
    data = body if raw else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _tokens(server, text):
    status, _, body = _post(server.url + "/tokenize", {"content": text, "add_special": True})
    assert status == 200
    return json.loads(body)["tokens"]


def test_chat_completion_with_usage_and_timings(server):
    client = server.client()
    reply = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "Speak, friend."}],
                                           max_tokens=12, seed=3, temperature=0.7)
    assert reply.object == "chat.completion" and reply.model == "shakespeare-ternary"
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("length", "stop")
    assert reply.usage.completion_tokens <= 12 and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.model_extra["timings"]["predicted_n"] == reply.usage.completion_tokens


def test_text_completion_usage_matches_the_tokenizer(server):
    client = server.client()
    prompt = "ROMEO:\nBut soft, what light through yonder window breaks?"
    reply = client.completions.create(model="x", prompt=prompt, max_tokens=9, seed=5, temperature=1.0)
    assert reply.object == "text_completion"
    assert reply.usage.prompt_tokens == len(_tokens(server, prompt))
    if reply.choices[0].finish_reason == "length":
        assert reply.usage.completion_tokens == 9
    # The text is what the ids decode to: detokenizing the prompt+completion tokenization round-trips.
    status, _, body = _post(server.url + "/detokenize", {"tokens": _tokens(server, prompt)})
    assert status == 200 and json.loads(body)["content"] == prompt


def test_streaming_gives_the_same_text_as_one_response_and_ends_with_usage(server):
    client = server.client()
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What news?"}]
    whole = client.chat.completions.create(model="m", messages=messages, max_tokens=16, seed=11)
    chunks = list(client.chat.completions.create(model="m", messages=messages, max_tokens=16, seed=11, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    # Text completions stream too.
    streamed = "".join(c.choices[0].text for c in client.completions.create(model="m", prompt="JULIET:", max_tokens=8, seed=2, stream=True))
    assert streamed == client.completions.create(model="m", prompt="JULIET:", max_tokens=8, seed=2).choices[0].text


def test_stop_strings_end_the_text_before_them(server):
    client = server.client()
    for stop in ["\n", ["e", "\n"]]:
        reply = client.completions.create(model="m", prompt="KING HENRY:\n", max_tokens=60, seed=4, stop=stop)
        text = reply.choices[0].text
        for s in [stop] if isinstance(stop, str) else stop:
            assert s not in text
        assert reply.choices[0].finish_reason == "stop"


def test_the_same_seed_gives_the_same_text_alone_or_batched_with_others(server):
    client = server.client()
    ask = lambda seed: client.completions.create(model="m", prompt="First Citizen:\n", max_tokens=24, seed=seed).choices[0].text
    alone = ask(42)
    results, errors = {}, []

    def worker(i):
        try:
            results[i] = ask(42 if i % 2 == 0 else 1000 + i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(results[i] == alone for i in range(0, 8, 2))
    assert len({results[i] for i in range(1, 8, 2)} | {alone}) > 1, "different seeds should give different texts"


def test_json_mode_replies_are_json_objects(server, tokenizer_dir):
    """`response_format: {"type": "json_object"}` holds the reply to one JSON object, which ends the
    reply when it closes. The Shakespeare model has hardly seen a quote, so a logit bias on the
    tokens holding `"` or `}` lets its strings and objects close within the budget."""
    vocabulary = json.loads((tokenizer_dir / "encoder.json").read_text())
    bias = {str(i): 10 for piece, i in vocabulary.items() if '"' in piece or "}" in piece}
    client = server.client()
    closed = 0
    for seed in range(4):
        ask = dict(model="m", messages=[{"role": "user", "content": "Answer in JSON."}], max_tokens=40, seed=seed,
                   response_format={"type": "json_object"}, logit_bias=bias)
        reply = client.chat.completions.create(**ask)
        content = reply.choices[0].message.content
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(stream=True, **ask) if c.choices)
        assert streamed == content
        assert content.lstrip().startswith("{")
        if reply.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(content), dict)
            closed += 1
        else:
            assert reply.usage.completion_tokens == 40
    assert closed >= 2
    text = client.completions.create(model="m", prompt="ROMEO:", max_tokens=40, seed=1, logit_bias=bias,
                                     extra_body={"response_format": {"type": "json_object"}})
    assert text.choices[0].text.lstrip().startswith("{")
    for bad in ({"type": "yaml"}, {"kind": "json_object"}):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], response_format=bad)
        assert e.value.body["param"] == "response_format"


CARD = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 12},
        "age": {"type": "integer"},
        "mood": {"enum": ["merry", "sad", "wroth"]},
        "friends": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
        "alive": {"type": "boolean"},
        "motto": {"type": ["string", "null"], "maxLength": 10},
    },
    "required": ["name", "age", "mood", "friends", "alive"],
    "additionalProperties": False,
}


def test_structured_outputs_meet_their_schema_as_the_jsonschema_library_checks_it(server, tokenizer_dir):
    """`response_format: {"type": "json_schema", ...}`: every reply that finishes is valid against
    the schema by the `jsonschema` library (an outside oracle), streamed or not. Biases keep the
    Shakespeare model's strings short and its indentation out of the budget."""
    import jsonschema

    vocabulary = json.loads((tokenizer_dir / "encoder.json").read_text())
    bias = {str(i): 10 for piece, i in vocabulary.items() if '"' in piece}
    bias.update({str(i): -10 for piece, i in vocabulary.items() if set(piece) <= {"Ġ", "Ċ", "ĉ"}})
    client = server.client()
    form = {"type": "json_schema", "json_schema": {"name": "card", "schema": CARD, "strict": True}}
    whole = 0
    for seed in range(4):
        ask = dict(model="m", messages=[{"role": "user", "content": "Describe Romeo."}], max_tokens=150, seed=seed,
                   response_format=form, logit_bias=bias)
        reply = client.chat.completions.create(**ask)
        content = reply.choices[0].message.content
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(stream=True, **ask) if c.choices)
        assert streamed == content
        if reply.choices[0].finish_reason == "stop":
            jsonschema.validate(json.loads(content), CARD)
            whole += 1
    assert whole >= 3
    for bad, fragment in (({"type": "string", "pattern": "^a"}, "pattern"), ({"type": "integer"}, "number"),
                          ({"anyOf": [{"type": "object"}, {"type": "object"}]}, "anyOf")):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                           response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": bad}})
        assert e.value.body["param"] == "response_format" and fragment in e.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                       response_format={"type": "json_schema", "json_schema": {"name": "x"}})


def test_the_openai_sdk_parses_replies_into_a_pydantic_model(server, tokenizer_dir):
    """`client.chat.completions.parse(response_format=Model)`: the SDK turns a Pydantic model into a
    strict schema (nested models as `$defs` and `$ref`, optional fields as `anyOf` with null) and
    parses the reply back into the model."""
    from typing import Literal, Optional

    from pydantic import BaseModel, Field

    class Friend(BaseModel):
        name: str = Field(max_length=8)

    class Card(BaseModel):
        name: str = Field(min_length=1, max_length=12)
        age: int
        mood: Literal["merry", "sad", "wroth"]
        friends: list[Friend] = Field(max_length=2)
        alive: bool
        motto: Optional[str] = Field(default=None, max_length=10)

    vocabulary = json.loads((tokenizer_dir / "encoder.json").read_text())
    bias = {str(i): 10 for piece, i in vocabulary.items() if '"' in piece}
    bias.update({str(i): -10 for piece, i in vocabulary.items() if set(piece) <= {"Ġ", "Ċ", "ĉ"}})
    client = server.client()
    parse = client.chat.completions.parse if hasattr(client.chat.completions, "parse") else client.beta.chat.completions.parse
    parsed = 0
    for seed in range(3):
        try:
            reply = parse(model="m", messages=[{"role": "user", "content": "Describe Romeo."}], response_format=Card,
                          max_tokens=200, seed=seed, logit_bias=bias)
        except openai.LengthFinishReasonError:
            continue
        card = reply.choices[0].message.parsed
        assert isinstance(card, Card) and card.mood in ("merry", "sad", "wroth") and len(card.friends) <= 2
        parsed += 1
    assert parsed >= 2


def test_errors_have_openai_shapes_and_statuses(server):
    client = server.client()
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], n=2)
    assert e.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="m", prompt="hi", extra_body={"frobnicate": 1})
    assert "frobnicate" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="m", prompt="hi " * 400, max_tokens=1)
    assert e.value.code == "context_length_exceeded" and "256" in e.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=[{"role": "wizard", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="m", prompt="hi", temperature=-1)
    status, _, body = _post(server.url + "/v1/chat/completions", b'{"messages": [', raw=True)
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]["message"]
    status, _, body = _post(server.url + "/v1/chat/completions", b'[1, 2]', raw=True)
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
    status, _, body = _post(server.url + "/v1/nothing", {})
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="m", prompt=["one", "two"])
    assert e.value.body["param"] == "prompt" and "one per request" in e.value.message
    # Nothing to generate is an empty completion (it once stopped the server), echoed or not.
    nothing = client.completions.create(model="m", prompt="ROMEO:", max_tokens=0)
    assert nothing.choices[0].text == "" and nothing.usage.completion_tokens == 0 and nothing.choices[0].finish_reason == "length"
    assert client.completions.create(model="m", prompt="ROMEO:", max_tokens=0, echo=True).choices[0].text == "ROMEO:"


def test_logprobs_are_the_models_distribution_as_the_numpy_reference_computes_it(ternary_bin):
    """Text completions' `logprobs` (OpenAI's legacy shape) against the independent NumPy engine
    (float32 attention, so the server's cache is f32 here too): each token is the reference's
    greedy choice, its log-probability the reference's log-softmax, and the alternatives its best
    three. The prompt is random ids whose forward, continuation included, comes nowhere near an
    activation rounding tie (where float order alone may pick the other int8 value)."""
    import numpy as np

    from conftest import ROOT, nearest_rounding_tie
    from ternary_qat.numpy_ref import NumpyGPT2

    reference = NumpyGPT2(str(ROOT / "models" / "shakespeare-ternary.safetensors"))

    def greedy(ids, n):
        cache, out = reference.new_cache(), []
        rows = [reference.forward(ids, cache)[-1]]
        for _ in range(n):
            out.append(int(np.argmax(rows[-1])))
            rows.append(reference.forward([out[-1]], cache)[-1])
        return out, rows[:-1]

    for seed in range(200):  # at least two float32 steps (7.6e-6 each near 127) from any tie
        prompt = np.random.default_rng(seed).integers(0, reference.vocab, size=6).tolist()
        continuation, rows = greedy(prompt, 5)
        end_of_text = 50256  # GPT-2's <|endoftext|>, which ignore_eos keeps the server from choosing
        if end_of_text not in continuation and nearest_rounding_tie(lambda: reference.forward(prompt + continuation)) > 1.5e-5:
            break
    else:
        raise AssertionError("no prompt without a near rounding tie")

    with ServerProcess(ternary_bin, "--kv-cache", "f32", "-t", "1") as server:
        def text_of(*tokens):
            status, _, body = _post(server.url + "/detokenize", {"tokens": list(tokens)})
            assert status == 200
            return json.loads(body)["content"]

        def log_softmax(row):
            row = row.astype(np.float64)
            return row - row.max() - np.log(np.exp(row - row.max()).sum())

        reply = server.client().completions.create(model="m", prompt=prompt, max_tokens=5, temperature=0, logprobs=3,
                                                   extra_body={"ignore_eos": True})
        got = reply.choices[0].logprobs
        assert len(got.tokens) == len(got.token_logprobs) == len(got.top_logprobs) == len(got.text_offset) == 5
        assert "".join(got.tokens) == reply.choices[0].text
        assert got.text_offset == [sum(len(t) for t in got.tokens[:i]) for i in range(len(got.tokens))]
        for token, logprob, top, chosen, row in zip(got.tokens, got.token_logprobs, got.top_logprobs, continuation, rows):
            expected = log_softmax(row)
            best = [int(i) for i in np.argsort(-row, kind="stable")[:3]]
            assert best[0] == chosen and token == text_of(chosen)
            # Measured: within 5e-7 (the engine's float32 logits against NumPy's).
            assert abs(logprob - expected[chosen]) < 1e-4, (logprob, expected[chosen])
            assert list(top) == [text_of(i) for i in best] and all(abs(top[text_of(i)] - expected[i]) < 1e-4 for i in best)

        # How lm-evaluation-harness scores a continuation through an OpenAI completions endpoint: the
        # context and continuation as one prompt of ids, echo, one log-probability, one new token.
        # Every prompt token after the first gets the reference's log-softmax; the first has none.
        ids = prompt + continuation
        scored = server.client().completions.create(model="m", prompt=[ids], max_tokens=1, temperature=0, echo=True, logprobs=1)
        echoed = scored.choices[0].logprobs
        assert scored.choices[0].text.startswith(text_of(*ids))
        assert len(echoed.tokens) == len(ids) + 1 and echoed.token_logprobs[0] is None and echoed.top_logprobs[0] is None
        rows = reference.forward(ids)
        for i in range(1, len(ids)):
            expected = log_softmax(rows[i - 1])
            assert echoed.tokens[i] == text_of(ids[i]) and abs(echoed.token_logprobs[i] - expected[ids[i]]) < 1e-4, i
            assert text_of(int(np.argmax(rows[i - 1]))) in echoed.top_logprobs[i]


def test_text_offsets_point_into_the_reply_text_when_tokens_split_a_character(server):
    """`text_offset` counts code points of the reply's text, as OpenAI does. GPT-2's byte-level
    tokens split an emoji's four bytes over two tokens: both point at the emoji, the next token
    just past it, and the completion's tokens continue from the echoed prompt, whole or streamed."""
    prompt = "Good morrow \U0001F600 cousin, and \u00e9l\u00e8ve"

    def detokenize(ids):
        status, _, body = _post(server.url + "/detokenize", {"tokens": ids})
        assert status == 200
        return json.loads(body)["content"]

    status, _, body = _post(server.url + "/tokenize", {"content": prompt})
    ids = json.loads(body)["tokens"]
    assert any(detokenize([i]) == "\ufffd" for i in ids), "the emoji is no longer split; pick another character"
    # Where each token starts: the code points of the text before it, an unfinished character not counted.
    expected = [len(detokenize(ids[:i]).removesuffix("\ufffd")) for i in range(len(ids))]
    client = server.client()
    kwargs = dict(model="m", prompt=prompt, max_tokens=4, temperature=0, echo=True, logprobs=1, extra_body={"ignore_eos": True})
    reply = client.completions.create(**kwargs)
    text, got = reply.choices[0].text, reply.choices[0].logprobs
    assert got.text_offset[:len(ids)] == expected
    assert got.text_offset[len(ids)] == len(prompt) and text.startswith(prompt)
    for token, offset in zip(got.tokens, got.text_offset):
        if "\ufffd" not in token:
            assert text[offset:].startswith(token), (token, offset)
    streamed = [o for c in client.completions.create(stream=True, **kwargs) if c.choices[0].logprobs
                for o in c.choices[0].logprobs.text_offset]
    assert streamed == got.text_offset


def test_chat_logprobs_stream_with_their_text_and_rebuild_it(server):
    client = server.client()
    messages = [{"role": "user", "content": "What news from Verona?"}]
    whole = client.chat.completions.create(model="m", messages=messages, max_tokens=10, seed=4, logprobs=True, top_logprobs=2)
    content = whole.choices[0].logprobs.content
    assert len(content) == whole.usage.completion_tokens or whole.choices[0].finish_reason == "stop"
    assert bytes(b for entry in content for b in entry.bytes).decode() == whole.choices[0].message.content
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob >= entry.logprob or entry.top_logprobs[0].bytes == entry.bytes
        assert all(t.logprob == entry.logprob for t in entry.top_logprobs if t.bytes == entry.bytes)
    chunks = list(client.chat.completions.create(model="m", messages=messages, max_tokens=10, seed=4, logprobs=True, top_logprobs=2,
                                                 stream=True))
    streamed = [entry for c in chunks if c.choices and c.choices[0].logprobs for entry in c.choices[0].logprobs.content]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in content]
    # Without the flag there are none.
    plain = client.chat.completions.create(model="m", messages=messages, max_tokens=4, seed=4)
    assert plain.choices[0].logprobs is None
    for bad in ({"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 21}, {"logprobs": 3}):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="m", messages=messages, max_tokens=2, extra_body=bad)
        assert e.value.body["param"] in bad
    # logit_bias: +100 on one token makes it every token of a greedy reply; bad maps are 400s.
    newline = _tokens(server, "\n")[-1]
    forced = client.completions.create(model="m", prompt="ROMEO:", max_tokens=3, temperature=0, logit_bias={str(newline): 100})
    assert forced.choices[0].text == "\n\n\n"
    for bias in ({"x": 1}, {"0": 101}, {"-1": 1}, {"99999999": 1}, [1]):
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model="m", prompt="hi", max_tokens=1, extra_body={"logit_bias": bias})
        assert "logit_bias" in e.value.message
    for bad in (-1, 21, True, "3"):
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model="m", prompt="hi", max_tokens=2, extra_body={"logprobs": bad})
        assert e.value.body["param"] == "logprobs"


def test_models_health_metrics_and_the_chat_page(server):
    assert [m.id for m in server.client().models.list().data] == ["shakespeare-ternary"]
    with urllib.request.urlopen(server.url + "/health") as r:
        assert json.loads(r.read()) == {"status": "ok"}
    with urllib.request.urlopen(server.url + "/metrics") as r:
        text = r.read().decode()
    for name in ["ternary_requests_total", "ternary_generated_tokens_total", "ternary_active_sequences", "ternary_queued_requests"]:
        assert name in text
    requests = next(float(l.split()[-1]) for l in text.splitlines() if l.startswith("ternary_requests_total"))
    assert requests >= 1
    with urllib.request.urlopen(server.url + "/") as r:
        page = r.read().decode()
    assert "/v1/chat/completions" in page and "<script src" not in page and "http" not in page.split("<script>")[1].split("fetch")[0]


def test_api_key_body_limit_and_a_full_queue(ternary_bin):
    with ServerProcess(ternary_bin, "--api-key", "s3cret", "-np", "1", "--queue", "0", "--max-body", "2048", "-t", "1") as s:
        with pytest.raises(openai.AuthenticationError):
            s.client(api_key="wrong").models.list()
        client = s.client(api_key="s3cret")
        assert client.models.list().data
        status, _, body = _post(s.url + "/v1/completions", {"prompt": "x" * 5000}, headers={"Authorization": "Bearer s3cret"})
        assert status == 413 and "2048" in json.loads(body)["error"]["message"]
        # One slot, no queue: while a long stream runs, the next request is turned away with Retry-After.
        stream = client.completions.create(model="m", prompt="ROMEO:", max_tokens=200, seed=1, stream=True)
        first = next(iter(stream))
        assert first.choices[0].text is not None
        status, headers, body = _post(s.url + "/v1/completions", {"prompt": "hi", "max_tokens": 1}, headers={"Authorization": "Bearer s3cret"})
        assert status == 503 and headers.get("Retry-After") == "1"
        assert json.loads(body)["error"]["type"] == "unavailable_error"
        stream.close()
        assert s.stop() == 0
