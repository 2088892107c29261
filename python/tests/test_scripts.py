"""The developer scripts under scripts/ that docs/BENCHMARKS.md relies on."""
import subprocess
import sys

from conftest import ROOT


def _ab_bench(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "ab-bench.py"), *args], capture_output=True, text=True, timeout=600)


def test_ab_bench_alternates_binaries_and_reports_ratios(ternary_bin):
    done = _ab_bench("--rounds", "2", ternary_bin, ternary_bin, "--", "-p", "4", "-n", "4", "-t", "1", "-r", "1")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| pp4") or line.startswith("| tg4")]
    # One row per (test, binary); the second binary's ratio to the first and in how many rounds it was higher.
    assert [row.split("|")[1].strip() for row in rows] == ["pp4 d0 t1", "pp4 d0 t1", "tg4 d0 t1", "tg4 d0 t1"]
    assert float(rows[1].split("|")[5].strip().rstrip("×")) > 0 and rows[1].split("|")[6].strip().endswith("of 2")
    assert done.stderr.count("done") == 4  # two rounds of two binaries

    served = _ab_bench("--rounds", "1", ternary_bin, ternary_bin, "--", "--parallel", "1,2", "-p", "4", "-n", "4", "-t", "1", "-r", "1")
    assert served.returncode == 0, served.stderr
    two = [line for line in served.stdout.splitlines() if "x2 t1" in line]
    assert len(two) == 2 and all(line.split("|")[7].strip().endswith("×") for line in two)


def test_ab_bench_refuses_bad_invocations(ternary_bin):
    assert "after --" in _ab_bench(ternary_bin, ternary_bin).stderr
    assert "at least two binaries" in _ab_bench(ternary_bin, "--", "-p", "4").stderr
    missing = _ab_bench(ternary_bin, "/nonexistent/ternary", "--", "-p", "4")
    assert missing.returncode != 0 and "cannot run /nonexistent/ternary" in missing.stderr
    failing = _ab_bench("--rounds", "1", ternary_bin, ternary_bin, "--", "--bogus")
    assert failing.returncode != 0 and "bench failed" in failing.stderr
