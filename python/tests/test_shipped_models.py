"""The models that ship in models/: each loads, writes text, and is the trained model its README
section describes, not a random or naively ternarized one."""
import json
import math
import subprocess

from conftest import ROOT, SHARED

STORIES = SHARED / "models" / "stories260K"


def run(ternary_bin, *args) -> str:
    return subprocess.run([ternary_bin, *args], capture_output=True, text=True, check=True).stdout


def perplexity(ternary_bin, model, text_file, ctx, *extra) -> float:
    return json.loads(run(ternary_bin, "perplexity", "-m", str(model), "--file", str(text_file), "--ctx", str(ctx), "--json", *extra))["ppl"]


def test_the_shipped_stories_model_is_healed_on_the_published_story(ternary_bin, tmp_path):
    """On stories260K.md's own text: naive ternarization of the float model is hopeless, the shipped
    QAT+KD model closes at least 70 % of that gap in log-perplexity, and it tells a story."""
    doc = (STORIES / "stories260K.md").read_text()
    story = tmp_path / "story.txt"
    story.write_text(doc[doc.index("Once upon a time, there was a little girl"):doc.index("We can help you.") + len("We can help you.")])
    ptq, fp = tmp_path / "ptq.safetensors", tmp_path / "fp.safetensors"
    for out, weights in ((ptq, "ternary"), (fp, "f32")):
        run(ternary_bin, "pack", str(STORIES / "stories260K.bin"), "--tokenizer", str(STORIES / "tok512.bin"), "--weights", weights, "-o", str(out))
    shipped = ROOT / "models" / "stories-ternary.safetensors"
    p_ptq, p_fp, p_shipped = (perplexity(ternary_bin, m, story, 64) for m in (ptq, fp, shipped))
    assert p_ptq > 100 * p_fp
    assert (math.log(p_ptq) - math.log(p_shipped)) / (math.log(p_ptq) - math.log(p_fp)) >= 0.7, (p_ptq, p_shipped, p_fp)
    text = run(ternary_bin, "generate", "-m", str(shipped), "Once upon a time", "-n", "40", "--temperature", "0", "--quiet")
    words = text.lower().split()
    assert len(words) > 20 and sum(w.strip(".,!\"") in {"the", "a", "was", "she", "he", "to", "and", "her", "his"} for w in words) >= 5, text


def test_the_shipped_mamba2_is_trained_on_shakespeare(ternary_bin, tmp_path):
    text = (SHARED / "text" / "tinyshakespeare" / "input.txt").read_text()
    held = tmp_path / "heldout.txt"
    held.write_text(text[text.index("\n", int(len(text) * 0.9)) + 1:])  # the split the training held out
    model = ROOT / "models" / "shakespeare-mamba2-ternary.safetensors"
    assert perplexity(ternary_bin, model, held, 128, "--max-tokens", "1024") < 200  # an untrained model: ~50,000
    sample = run(ternary_bin, "generate", "-m", str(model), "ROMEO:", "-n", "40", "--seed", "1", "--quiet")
    lines = [l for l in sample.splitlines() if l.strip()]
    assert sample.startswith("ROMEO:") and len(lines) >= 3 and len(sample.split()) >= 15, sample  # verse, line by line
