"""``bench/memory.py --at-peak``: the tensors alive at TensorFlow's allocator peak, replayed
from the profiler's memory events (``bench/_atpeak.py``)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import _atpeak  # noqa: E402


def _ev(t, allocated, addr, size, in_use, op):
    return (t, allocated, {"addr": addr, "allocation_bytes": size, "bytes_allocated": in_use, "tf_op": op, "shape": "[1]", "region_type": "output"})


def test_the_peak_is_the_live_set_where_most_bytes_were_in_use():
    events = [
        _ev(1, True, 10, 100, 1100, "a"),
        _ev(2, True, 20, 300, 1400, "b"),
        _ev(3, False, 10, 100, 1300, "a"),
        _ev(4, True, 30, 50, 1350, "c"),  # below the peak at t=2: a and b were alive there
        _ev(5, False, 20, 300, 1050, "b"),
        _ev(6, True, 10, 200, 1250, "d"),  # the freed address reused
    ]
    got = _atpeak.peak_of(events, top=5)
    assert got["in_use"] == 1400
    assert got["live"] == 400
    assert [(op, mib) for mib, op, _, _ in got["tensors"]] == [("b", round(300 / 2**20, 1)), ("a", round(100 / 2**20, 1))]
    assert _atpeak.peak_of(events, top=1)["tensors"][0][1] == "b"
    later = events + [_ev(7, True, 40, 400, 1650, "e")]  # the peak after frees: b and a are gone
    got = _atpeak.peak_of(later, top=5)
    assert got["in_use"] == 1650 and got["live"] == 650
    assert sorted(op for _, op, _, _ in got["tensors"]) == ["c", "d", "e"]
    other = [(t, a, dict(st, allocator_name="host")) for t, a, st in [_ev(0, True, 99, 10**6, 10**7, "x")]]
    gpu = [(t, a, dict(st, allocator_name="GPU_0_bfc")) for t, a, st in events]
    assert _atpeak.peak_of(other + gpu, top=5)["in_use"] == 1400  # the GPU's, not the busier host allocator's


def test_a_real_profile_names_the_tensor_alive_at_the_peak():
    """TensorFlow's own events (their field names change between versions): a 4 MiB
    tensor freed before a 16 MiB one is made, which is alive at the peak."""
    code = textwrap.dedent(
        """
        import json, os, sys
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        sys.path.insert(0, sys.argv[1])
        import tensorflow as tf
        import _atpeak
        tf.zeros([8]).numpy()
        with _atpeak.profiled() as prof:
            small = tf.fill([1 << 20], 1.0)
            del small
            big = tf.fill([4 << 20], 2.0)
            total = float(tf.reduce_sum(big))
        print(json.dumps(_atpeak.live_at_peak(prof["logdir"], 3)))
        """
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "bench")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["tensors"][0][0] == 16.0, got
    assert "Fill" in got["tensors"][0][1], got
    assert all(t[0] < 4.0 for t in got["tensors"][1:]), got  # the 4 MiB one was freed before
