"""Real SIGINTs at random moments: the saved state's clocks and counters agree, and repeated
interrupt-and-resume ends bit-identical to an uninterrupted run, counters included."""
import os
import signal
import threading

import numpy as np
import pytest

from lazyrich.numerics import simulate as Sm


def small(**kw):
    base = dict(data="stripe", d=3, p=24, ptest=100, h=8, alphas=(1.0, 0.1), seeds=(0,), device="cpu", t_max=3.0,
                checkpoints=6, t_first=0.05, max_steps=200_000)
    return Sm.SimulationConfig(**{**base, **kw})


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_repeated_sigint_and_resume_is_bit_identical(tmp_path):
    # Python's own SIGINT handler, whatever this process inherited (a background job starts with SIGINT
    # ignored, and then neither a user's Ctrl-C nor this test's signal would interrupt anything)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_and_resume(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_and_resume(tmp_path):
    import time

    cfg = small()
    t0 = time.perf_counter()
    straight = Sm.simulate(cfg, progress=False)
    duration = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    out, interrupts = tmp_path / "run", 0
    for attempt in range(12):
        timer = threading.Timer(float(rng.uniform(0.1, 0.6)) * duration, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            resumed = Sm.simulate(cfg, out=out, resume=attempt > 0, progress=False)
            timer.cancel()
            break
        except KeyboardInterrupt:
            interrupts += 1
        finally:
            timer.join()
    else:
        resumed = Sm.simulate(cfg, out=out, resume=True, progress=False)
    assert interrupts >= 1
    for key in ("final_margins", "final_t", "final_steps", "final_rejected", "final_forced", "margins", "z"):
        np.testing.assert_array_equal(resumed.arrays[key], straight.arrays[key], err_msg=key)
