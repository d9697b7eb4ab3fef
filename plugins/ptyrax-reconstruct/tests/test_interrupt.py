"""Interruption (issue 23, item 4): SIGINT and SIGTERM end a run at an epoch's end with a
checkpoint, exit 130/143 and a line that says how to resume; `reconstruct(stop=...)` does the
same in Python; a `kill -9` at any moment leaves every output whole under its name.

The command-line tests run real processes (`python -m ptyrax_core.cli reconstruct`) on the
shipped measured scan; every wait is bounded by `TIMEOUT`, and the processes a test started are
killed when it ends, however it ends.
"""

import json
import os
import pathlib
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
from ptyrax_reconstruct import Interrupted, reconstruct
from test_run import short_config

import ptyrax_core

EPOCHS = 20
"""Epochs of the command-line runs: ~2 s of fitting after a ~4 s start, then ~3 s of outputs."""
STAGES = [{"epochs": EPOCHS, "learning_rate": 0.04, "batch_size": 10}]
TIMEOUT = 180.0
"""Seconds any one wait may take: far beyond a run's ~10 s, so that only a hang fails it."""
CHECKPOINT, METRICS, ARRAYS, FIGURE = OUTPUTS = (
    "checkpoint.ptyrax",
    "metrics.json",
    "reconstruction.h5",
    "reconstruction.png",
)
TEMPORARY = re.compile(r"\.checkpoint\.ptyrax\.[0-9a-f]+\.tmp")
"""A checkpoint being written (`ptyrax_core.save`)."""
LEFTOVER = re.compile(
    rf"{TEMPORARY.pattern}|\.(metrics\.json|reconstruction\.h5|reconstruction\.png)\.\d+\.part"
)
"""What a killed run may leave half-written beside the outputs: never under their names."""
PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _cached(cache: pathlib.Path) -> dict:
    """The environment of a run whose JAX compilation cache is `cache`."""
    cached = {
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    return os.environ | cached


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> pathlib.Path:
    """A JAX compilation cache that holds what the runs here compile, made by a one-epoch run:
    a run started from it skips ~2 s of compiling (of its ~4 s start)."""
    folder = tmp_path_factory.mktemp("compiled")
    stages = [{"epochs": 1, "learning_rate": 0.04, "batch_size": 10}]  # STAGES' steps
    config = short_config(folder, stages=stages)
    argv = [sys.executable, "-m", "ptyrax_core.cli", "reconstruct", str(config), "--quiet"]
    argv += ["--out", str(folder / "out")]
    env = _cached(folder / "cache")
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr
    return folder / "cache"


@pytest.fixture
def start(tmp_path, compiled):
    """`start(*arguments, quiet=True)`: start `ptyrax reconstruct ARGUMENTS [--quiet]` as a
    process, its stdout and stderr to files (read with `_output`), with a copy of the compiled
    cache of its own (a killed run may leave an entry half-written there, and runs at once
    would share theirs); every process started is killed (SIGKILL, which ends a stopped one
    too) and reaped when the test ends."""
    started = []

    def start(*arguments, quiet=True):
        n = len(started)
        argv = [sys.executable, "-m", "ptyrax_core.cli", "reconstruct", *map(str, arguments)]
        argv += ["--quiet"] * quiet
        env = _cached(shutil.copytree(compiled, tmp_path / f"{n}.cache"))
        with (
            open(tmp_path / f"{n}.stdout", "wb") as stdout,
            open(tmp_path / f"{n}.stderr", "wb") as stderr,
        ):
            process = subprocess.Popen(
                argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env
            )
        process.stdout_path, process.stderr_path = stdout.name, stderr.name
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                process.wait(timeout=TIMEOUT)


def _output(process) -> tuple[str, str]:
    """What `process` has written so far to its stdout and stderr."""
    return (
        pathlib.Path(process.stdout_path).read_text(errors="replace"),
        pathlib.Path(process.stderr_path).read_text(errors="replace"),
    )


def _finish(process) -> tuple[int, str, str]:
    """Wait for `process` to end: its exit status, stdout and stderr."""
    try:
        code = process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end within {TIMEOUT} s: {_output(process)[1][-2000:]}")
    return (code, *_output(process))


def _wait_for(condition, process, what: str, pause: float = 0.01):
    """Poll `condition()`, every `pause` seconds, until it gives something true (returned);
    fail if `process` ends or `TIMEOUT` passes first."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the run ended ({process.returncode}) before {what}: {_output(process)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {TIMEOUT} s: {_output(process)[1][-2000:]}")
        time.sleep(pause)


def _names(out: pathlib.Path) -> list[str]:
    try:
        return sorted(os.listdir(out))
    except FileNotFoundError:  # not made yet
        return []


def _check_whole(out: pathlib.Path, epochs: int) -> dict:
    """Every output under its name in `out` is a whole file, and anything else there is a
    temporary file of a write (`LEFTOVER`); the names found, each with what it holds."""
    found = {}
    names = _names(out)
    assert all(n in OUTPUTS or LEFTOVER.fullmatch(n) for n in names), names
    if CHECKPOINT in names:
        saved = ptyrax_core.load(out / CHECKPOINT)  # checks every byte: whole, or it raises
        assert type(saved["epoch"]) is int and 1 <= saved["epoch"] <= epochs, saved["epoch"]
        assert len(saved["history"]["epoch_loss"]) == saved["epoch"]
        found[CHECKPOINT] = saved["epoch"]
    if METRICS in names:
        metrics = json.loads((out / METRICS).read_text())
        assert metrics["epochs"] == epochs == len(metrics["epoch_loss"])
        found[METRICS] = metrics["epochs"]
    if ARRAYS in names:
        with h5py.File(out / ARRAYS, "r") as f:
            arrays = {name: f[name][()] for name in f}
        assert np.isfinite(arrays["object"]).all() and len(arrays["epoch_loss"]) == epochs
        found[ARRAYS] = sorted(arrays)
    if FIGURE in names:
        data = (out / FIGURE).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END), len(data)
        found[FIGURE] = len(data)
    return found


def _stop_line(signame: str, config: pathlib.Path, out: pathlib.Path) -> re.Pattern:
    """The documented line of a run stopped by `signame`; its group 1 is the epochs done."""
    checkpoint = re.escape(str(out / CHECKPOINT))
    return re.compile(
        rf"ptyrax reconstruct: stopped by {signame} after epoch (\d+); checkpoint {checkpoint}: "
        rf"continue with `(ptyrax reconstruct {re.escape(str(config))} --out "
        rf"{re.escape(str(out))} --resume {checkpoint})`"
    )


SIGNALS = {  # the exit status, --quiet, fit.checkpoint_every
    "SIGTERM": (143, False, 0),  # the progress bar on; no checkpoint but the stop's
    "SIGINT": (130, True, 1),  # --quiet: stderr is the one line; a checkpoint every epoch
}


def _check_stopped(name: str, config: pathlib.Path, out: pathlib.Path, process):
    """`process`, sent signal `name` while it fitted: it exits 128 + the signal with the one
    line, its checkpoint whole at the epochs done, nothing else in `out`. The epochs done,
    the checkpoint's history and the command that the line says continues the run."""
    status, quiet, _ = SIGNALS[name]
    code, stdout, stderr = _finish(process)
    assert code == status, stderr
    assert stdout == "" and "Traceback" not in stderr, stderr
    if quiet:
        lines = stderr.splitlines()
    else:  # the progress bar's redraws (after \r) aside
        lines = [s for s in re.split(r"[\r\n]", stderr) if s and not s.startswith("reconstructing")]
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    match = _stop_line(name, config, out).fullmatch(lines[0])
    assert match, lines[0]
    epochs = int(match[1])
    assert 1 <= epochs < EPOCHS, lines[0]

    saved = ptyrax_core.load(out / CHECKPOINT)
    assert saved["epoch"] == epochs, lines[0]
    history = saved["history"]
    assert {len(v) for v in history.values()} == {epochs}, history
    assert all(np.isfinite(v).all() for v in history.values()), history
    assert _names(out) == [CHECKPOINT]  # no temporary file left; the other outputs at the end
    command = shlex.split(match[2])
    assert command[:2] == ["ptyrax", "reconstruct"], command
    return epochs, history, command[2:]


def _wait_until_fitting(process, out: pathlib.Path, quiet: bool) -> None:
    """Wait until `process` has fitted an epoch: its progress bar counts one, or with --quiet
    its first checkpoint (checkpoint_every 1) is there."""
    if quiet:
        _wait_for(lambda: (out / CHECKPOINT).exists(), process, "a first checkpoint")
    else:
        bar = re.compile(rf"\|\s*[1-9]\d*/{EPOCHS} \[")
        _wait_for(lambda: bar.search(_output(process)[1]), process, "an epoch on the bar")


def test_sigterm_and_sigint_stop_the_run_at_an_epoch_end_with_a_checkpoint_to_resume(
    tmp_path, start
):
    """SIGTERM (a scheduler's) and SIGINT (Ctrl-C), each sent to a run while it fits (two runs
    at once, each in its own folder): each exits 128 + the signal (143, 130) with one stderr
    line `stopped by SIG... after epoch K` that names the checkpoint and the command that
    continues it; the checkpoint is whole at epoch K (K epochs of finite history) and nothing
    half-written is left; that very command (--quiet added) finishes the run with exit 0,
    metrics.json holding all the epochs, the first K those of the stopped run."""
    runs = {}
    for name, (_, quiet, every) in SIGNALS.items():
        folder = tmp_path / name
        folder.mkdir()
        config = short_config(folder, stages=STAGES, checkpoint_every=every)
        process = start(config, "--out", folder / "out", quiet=quiet)
        runs[name] = (config, folder / "out", process)
    for name, (_, out, process) in runs.items():
        _wait_until_fitting(process, out, quiet=SIGNALS[name][1])
        process.send_signal(getattr(signal, name))

    resumed = {}
    for name, (config, out, process) in runs.items():
        epochs, history, command = _check_stopped(name, config, out, process)
        resumed[name] = (out, epochs, history, start(*command))
    for name, (out, epochs, history, process) in resumed.items():
        code, stdout, stderr = _finish(process)
        assert code == 0, (name, stderr)
        assert stderr == "" and "final deviance" in stdout, (name, stderr)
        metrics = json.loads((out / METRICS).read_text())
        assert metrics["epochs"] == EPOCHS == len(metrics["epoch_loss"]), name
        assert metrics["epoch_loss"][:epochs] == history["epoch_loss"], name  # not restarted
        assert ptyrax_core.load(out / CHECKPOINT)["epoch"] == EPOCHS, name
        assert _names(out) == sorted(OUTPUTS), name


def test_a_stop_event_ends_reconstruct_at_the_next_epoch_and_the_run_resumes_as_if_whole(
    tmp_path,
):
    """`reconstruct(stop=event)`, the event set in the progress callback after epoch 3 of 5:
    no epoch runs after it; the run raises `Interrupted` with `epoch` 3, the checkpoint's path
    and no signal, having written a checkpoint at epoch 3 (none is due: checkpoint_every 0) and
    nothing else; a run resumed from it ends with arrays bit-identical to an uninterrupted
    run's."""
    stages = [{"epochs": 5, "learning_rate": 0.04, "batch_size": 10}]  # one step to compile
    config = short_config(tmp_path, stages=stages, checkpoint_every=0)
    stop, done = threading.Event(), []

    def progress(epoch, epochs, loss):
        done.append(epoch)
        if epoch == 3:
            stop.set()

    out = tmp_path / "cut"
    with pytest.raises(Interrupted) as caught:
        reconstruct(config, out=out, progress=progress, stop=stop)
    stopped = caught.value
    assert done == [1, 2, 3]  # no epoch after the stop was asked
    assert (stopped.epoch, stopped.checkpoint, stopped.signal) == (3, out / CHECKPOINT, None)
    assert str(stopped) == f"stopped after epoch 3; checkpoint {out / CHECKPOINT}"
    saved = ptyrax_core.load(out / CHECKPOINT)
    assert saved["epoch"] == 3 and len(saved["history"]["epoch_loss"]) == 3
    assert _names(out) == [CHECKPOINT]

    resumed = reconstruct(config, resume=out / CHECKPOINT)
    whole = reconstruct(config)
    assert resumed.epoch_loss == whole.epoch_loss and len(whole.epoch_loss) == 5
    assert resumed.epoch_loss[:3] == saved["history"]["epoch_loss"]
    for name in ("object", "probe", "positions", "background", "weights"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name)), name


PHASES = {"start": 3.0, "fitting": 2.0, "outputs": 2.5}
"""When the kills land: a random time up to so many seconds after a run's start (before its
first checkpoint, mostly), after its first checkpoint is there (while it saves one an epoch),
or after the first temporary file of its outputs is there (metrics.json, reconstruction.h5 and
.png being written; a run that ends first is not killed)."""


def _begun(phase: str, out: pathlib.Path, process, inode: int | None) -> bool:
    """Whether `process`, writing into `out`, is in `phase` (`PHASES`)."""
    if phase == "start":
        return True
    if phase == "fitting":  # a checkpoint of its own: another file than the one at its start
        try:
            return (out / CHECKPOINT).stat().st_ino != inode
        except FileNotFoundError:
            return False
    outputs = "|".join(re.escape(name) for name in (METRICS, ARRAYS, FIGURE))
    part = re.compile(rf"\.({outputs})\.{process.pid}\.part")  # the writer's process id in it
    return any(part.fullmatch(n) for n in _names(out))


def test_kill_9_at_random_moments_leaves_every_output_whole(tmp_path, start):
    """Runs that save a checkpoint every epoch, each SIGKILLed at a random moment (seeded
    delays after the start of a phase: the start, the fitting, the writing of the outputs),
    two at once: one in a new folder, one in a folder that every round reuses, so that it
    starts among what killed runs left there. After every kill, each of the four outputs that
    exists is whole (the checkpoint loads, at an epoch from 1 to the run's; metrics.json
    parses; reconstruction.h5 reads; the PNG has its start and its end), and anything else
    there is a temporary file of a write."""
    config = short_config(tmp_path, stages=STAGES, checkpoint_every=1)
    rng = random.Random(23)
    phases = list(PHASES)
    rng.shuffle(phases)  # so that the reused folder's later runs meet earlier runs' leftovers
    for i, phase in enumerate(phases):
        runs = []
        for out in (tmp_path / f"new{i}", tmp_path / "reused"):
            inode = (out / CHECKPOINT).stat().st_ino if (out / CHECKPOINT).exists() else None
            delay = rng.uniform(0.0, PHASES[phase])
            runs.append([out, start(config, "--out", out), inode, delay, None])
        deadline = time.monotonic() + TIMEOUT
        while any(process.poll() is None for _, process, *_ in runs):
            assert time.monotonic() < deadline, f"no {phase} within {TIMEOUT} s"
            for run in runs:
                out, process, inode, delay, kill_at = run
                if kill_at is None and _begun(phase, out, process, inode):
                    run[4] = kill_at = time.monotonic() + delay
                if kill_at is not None and time.monotonic() >= kill_at:
                    process.kill()
                    process.wait(timeout=TIMEOUT)
            time.sleep(0.005)
        for out, process, *_ in runs:
            code, _, stderr = _finish(process)
            print(f"{phase}: {out.name}: exit {code}: {_names(out)}")  # shown on a failure
            assert code in (-signal.SIGKILL, 0), stderr  # killed, or done before its kill
            _check_whole(out, EPOCHS)


def test_kill_9_in_the_middle_of_a_checkpoint_write_keeps_the_previous_one(tmp_path, start):
    """A run SIGKILLed while it writes a checkpoint (caught with a temporary checkpoint file in
    the folder, and frozen with SIGSTOP so that the write cannot finish before the kill): the
    checkpoint under its name is the previous one, byte for byte, and loads; the half-written
    temporary file is left beside it; `--resume` of it in the same folder removes that file and
    finishes the run with exit 0, continuing the saved history."""
    epochs = 6
    stages = [{"epochs": epochs, "learning_rate": 0.04, "batch_size": 10}]
    config = short_config(tmp_path, stages=stages, checkpoint_every=1)
    out = tmp_path / "out"
    process = start(config, "--out", out)

    def writing_over_a_checkpoint():
        """The temporary files, if the run is frozen in a write over an earlier checkpoint."""
        if not any(TEMPORARY.fullmatch(n) for n in _names(out)):
            return None
        process.send_signal(signal.SIGSTOP)
        _, status = os.waitpid(process.pid, os.WUNTRACED)  # until every thread is stopped
        if not os.WIFSTOPPED(status):
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: ended
            return None
        names = _names(out)
        temporary = [n for n in names if TEMPORARY.fullmatch(n)]
        if temporary and CHECKPOINT in names:
            return temporary
        process.send_signal(signal.SIGCONT)  # the first checkpoint, or the write just done
        return None

    _wait_for(lambda: (out / CHECKPOINT).exists(), process, "a first checkpoint")
    what = "a checkpoint written over one"  # polled without a pause: a write takes ~1-40 ms
    temporary = _wait_for(writing_over_a_checkpoint, process, what, pause=0)
    before = (out / CHECKPOINT).read_bytes()
    process.kill()
    code, _, stderr = _finish(process)
    assert code == -signal.SIGKILL, stderr

    assert (out / CHECKPOINT).read_bytes() == before
    saved = ptyrax_core.load(out / CHECKPOINT)
    assert 1 <= saved["epoch"] < epochs and len(saved["history"]["epoch_loss"]) == saved["epoch"]
    assert [n for n in _names(out) if n != CHECKPOINT] == temporary

    code, _, stderr = _finish(start(config, "--out", out, "--resume", out / CHECKPOINT))
    assert code == 0, stderr
    assert _names(out) == sorted(OUTPUTS)  # the killed write's file removed
    metrics = json.loads((out / METRICS).read_text())
    assert metrics["epochs"] == epochs
    assert metrics["epoch_loss"][: saved["epoch"]] == saved["history"]["epoch_loss"]
    assert _check_whole(out, epochs)[CHECKPOINT] == epochs
