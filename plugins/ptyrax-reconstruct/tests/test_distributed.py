"""One run over several processes: two processes of 4 host devices each (gloo collectives on
127.0.0.1) against one process of 8, resume across process counts, and bad input or a dead
process ending every process within a bounded time, with one line that says why."""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import h5py
import numpy as np
import pytest
from ptyrax_reconstruct import SlowStepWarning, _command, _distributed
from ptyrax_reconstruct._distributed import Cluster, cluster_options, parse_coordinator
from test_run import short_config

import ptyrax_core
from ptyrax_core.cli import main

# Two processes and the 1 x 8 reference each compile and run a short schedule: a minute or so
# on 2 cores. Every subprocess has a limit, so a hang fails the test instead of stalling it.
LIMIT = 150
CUT = [{"epochs": 3, "learning_rate": 0.04, "batch_size": 10}]


def _env() -> dict:
    """The environment of a process of the run: host devices from `--devices`, not XLA_FLAGS."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return env | {"JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ptyrax(*args: str) -> list[str]:
    return [sys.executable, "-m", "ptyrax_core.cli", *args]


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(processes: list[subprocess.Popen], limit: float = LIMIT) -> list[tuple]:
    """`(status, stdout, stderr)` of each; all are killed if one runs past `limit`."""
    try:
        return [(p, *p.communicate(timeout=limit)) for p in processes]
    except subprocess.TimeoutExpired:
        for p in processes:
            p.kill()
        pytest.fail(f"a process of the run was still running after {limit} s")


def _process(config, out, index: int, count: int, port: int, *extra: str) -> subprocess.Popen:
    """`ptyrax reconstruct CONFIG` as process `index` of `count`, with 4 devices."""
    return _start(
        _ptyrax(
            "reconstruct", str(config), "--out", str(out), "--quiet", "--devices", "4",
            "--coordinator", f"127.0.0.1:{port}", "--process-id", str(index),
            "--num-processes", str(count), *extra,
        )
    )  # fmt: skip


def _pair(config, outs, *extra: str) -> list[subprocess.Popen]:
    """Processes 0 and 1 of a run of two."""
    port = _free_port()
    return [_process(config, out, i, 2, port, *extra) for i, out in enumerate(outs)]


ONE_PROCESS = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    from ptyrax_reconstruct import reconstruct
    for config, out in zip(sys.argv[1::2], sys.argv[2::2]):
        reconstruct(config, out=out, devices=8)
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The short example run as 1 process x 8 devices and as 2 processes x 4 devices, and the
    1 x 8 run cut after its first stage (a checkpoint at epoch 3)."""
    tmp = tmp_path_factory.mktemp("distributed")
    config = short_config(tmp)
    (tmp / "cut").mkdir()
    cut = short_config(tmp / "cut", stages=CUT)
    one = _start([sys.executable, "-c", ONE_PROCESS, str(config), str(tmp / "one"), str(cut),
                  str(tmp / "cut" / "out")])  # fmt: skip
    [(status, _, err)] = _finish([one])
    assert status.returncode == 0, err
    start = time.perf_counter()
    results = _finish(_pair(config, [tmp / "two", tmp / "two-process-1"]))
    seconds = time.perf_counter() - start
    for p, _, err in results:
        assert p.returncode == 0, err
    return {
        "tmp": tmp,
        "config": config,
        "one": tmp / "one",
        "two": tmp / "two",
        "cut": tmp / "cut" / "out",
        "results": results,
        "seconds": seconds,
    }


def _metrics(folder: pathlib.Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_two_processes_of_four_devices_end_where_one_of_eight_does(runs):
    one, two = _metrics(runs["one"]), _metrics(runs["two"])
    # The same minibatches (drawn per device share, 8 shares either way); only the order of
    # the float32 cross-device sum differs (gloo's ring against in-process), measured at
    # 5e-6 relative after 5 epochs.
    assert len(two["epoch_loss"]) == 5
    np.testing.assert_allclose(two["epoch_loss"], one["epoch_loss"], rtol=1e-5)
    np.testing.assert_allclose(two["epoch_deviance"], one["epoch_deviance"], rtol=1e-5)
    assert two["final_deviance"] == pytest.approx(one["final_deviance"], rel=1e-5)
    same = ("settings", "epochs", "frames", "object_shape", "probe_modes", "devices")
    assert {k: two[k] for k in same} == {k: one[k] for k in same}
    assert two["devices"] == 8 and (one["processes"], two["processes"]) == (1, 2)
    assert (one["frames_per_process"], two["frames_per_process"]) == ([200], [100, 100])
    assert len(two["peak_rss_mb"]) == 2 and all(0 < x < 8192 for x in two["peak_rss_mb"])
    with (
        h5py.File(runs["one"] / "reconstruction.h5") as a,
        h5py.File(runs["two"] / "reconstruction.h5") as b,
    ):
        assert set(a) == set(b)
        for name in a:
            x, y = a[name][()], b[name][()]
            assert x.shape == y.shape and x.dtype == y.dtype, name
            # Adam divides by the gradient's scale: a pixel whose gradient is at rounding
            # level moves by up to a learning rate either way. Measured: 3e-3 (background),
            # 6e-4 (probe), 3e-4 (object), 4e-7 (weights), 5e-8 (positions).
            assert np.linalg.norm(x - y) <= 1e-2 * np.linalg.norm(x), name
    assert not (runs["tmp"] / "two-process-1").exists()  # process 1 writes nothing
    (_, out, err), (_, out1, err1) = runs["results"]
    assert "final deviance" in out and "on 8 device(s) of 2 processes" in out
    assert "final deviance" not in out1 and "error" not in err + err1
    # the processes have this one's cores: warned exactly when that is one core
    assert ("may use 1 core" in err + err1) == (len(os.sched_getaffinity(0)) == 1)


RESUME = textwrap.dedent(
    """
    import json, sys
    from ptyrax_reconstruct import Scan, initialize_distributed, reconstruct

    config, out, resume, coordinator, index = sys.argv[1:]
    initialize_distributed(coordinator, int(index), 2, timeout=60, heartbeat=30, devices=4)
    read, frames = [], Scan.frames
    def recording(scan, indices=slice(None)):
        read.append([indices.start, indices.stop])
        return frames(scan, indices)
    Scan.frames = recording
    result = reconstruct(config, out=out, resume=resume)
    print(json.dumps({"read": read, "epoch_loss": result.epoch_loss}))
    """
)


def test_a_checkpoint_of_one_process_resumes_on_two_and_each_reads_its_share(runs):
    checkpoint = runs["cut"] / "checkpoint.ptyrax"
    assert ptyrax_core.load(checkpoint)["epoch"] == 3
    port = _free_port()
    outs = [runs["tmp"] / "resumed", runs["tmp"] / "resumed-1"]
    command = [sys.executable, "-c", RESUME, str(runs["config"])]
    resume = [str(checkpoint), f"127.0.0.1:{port}"]
    results = _finish([_start([*command, str(o), *resume, str(i)]) for i, o in enumerate(outs)])
    reports = []
    for p, out, err in results:
        assert p.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["read"] for r in reports] == [[[0, 100]], [[100, 200]]]  # its own half, once
    whole = _metrics(runs["one"])["epoch_loss"]
    cut = _metrics(runs["cut"])["epoch_loss"]
    for report in reports:  # the same on both processes
        assert report["epoch_loss"][:3] == cut  # the checkpoint's history
        np.testing.assert_allclose(report["epoch_loss"], whole, rtol=1e-5)
    assert _metrics(outs[0])["epoch_loss"] == reports[0]["epoch_loss"]
    assert not outs[1].exists()
    # Replicated leaves and a fingerprint without the process count: either resumes the other.
    one = ptyrax_core.load(runs["one"] / "checkpoint.ptyrax")
    two = ptyrax_core.load(runs["two"] / "checkpoint.ptyrax")
    assert one["fingerprint"] == two["fingerprint"] and one["epoch"] == two["epoch"] == 5


@pytest.mark.parametrize("dies", [1, 0])
def test_a_process_that_dies_mid_run_stops_the_other_within_the_heartbeat_timeout(dies, tmp_path):
    heartbeat = 10
    config = short_config(
        tmp_path,
        stages=[{"epochs": 500, "learning_rate": 0.04, "batch_size": 200}],
        checkpoint_every=1,
    )
    outs = [tmp_path / "out", tmp_path / "out-1"]
    processes = _pair(config, outs, "--heartbeat-timeout", str(heartbeat))
    deadline = time.monotonic() + LIMIT
    while not (outs[0] / "checkpoint.ptyrax").exists():  # mid-run: an epoch is done
        assert all(p.poll() is None for p in processes), processes[0].communicate()
        assert time.monotonic() < deadline, "no epoch ended"
        time.sleep(0.1)
    processes[dies].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    [(survivor, _, err)] = _finish([processes[1 - dies]], limit=heartbeat + 30)
    seconds = time.monotonic() - killed
    processes[dies].wait()
    last = err.strip().splitlines()[-1]
    assert survivor.returncode == 1, err
    reason = "another process of the run died" if dies else "lost the coordinator (process 0)"
    assert last.startswith(f"ptyrax reconstruct: error: process {1 - dies}: {reason}"), last
    # The coordinator notices a silent process after the heartbeat timeout; a lost
    # coordinator is noticed at once.
    assert seconds < heartbeat + 15


def _one_line(err: str, message: str) -> None:
    assert err.startswith(f"ptyrax reconstruct: error: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unreachable_coordinator_is_one_line_and_exit_2_within_the_timeout(tmp_path, capsys):
    port = _free_port()  # nothing listens there
    config = short_config(tmp_path)
    start = time.monotonic()
    argv = ["reconstruct", str(config), "--out", str(tmp_path / "o"), "--timeout", "2"]
    argv += ["--coordinator", f"127.0.0.1:{port}", "--process-id", "1", "--num-processes", "2"]
    assert main(argv) == 2
    assert 2 <= time.monotonic() - start < 6
    _one_line(capsys.readouterr().err, f"--coordinator 127.0.0.1:{port}: nothing answers there")
    assert not (tmp_path / "o").exists()


def test_a_process_0_whose_peers_never_join_is_one_line_and_exit_2(tmp_path):
    config = short_config(tmp_path)
    start = time.monotonic()
    alone = _process(config, tmp_path / "o", 0, 2, _free_port(), "--timeout", "2")
    [(p, _, err)] = _finish([alone], limit=60)
    assert p.returncode == 2
    # The JAX runtime gives up a few seconds after its registration timeout (measured: 6 s).
    assert time.monotonic() - start < 2 + 20
    _one_line(err, "process 0: the run's 2 processes did not all join at 127.0.0.1:")


def test_processes_that_disagree_on_their_number_stop_with_one_line(tmp_path):
    config = short_config(tmp_path)
    port = _free_port()
    zero, one = (_process(config, tmp_path / f"o{i}", i, n, port) for i, n in ((0, 2), (1, 3)))
    results = _finish([zero, one], limit=60)
    for (p, _, err), count in zip(results, (2, 3), strict=True):
        assert p.returncode == 2
        _one_line(
            err,
            f"--num-processes {count}: 2 processes joined at 127.0.0.1:{port}; process 0 says "
            "2, process 1 says 3",
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--coordinator", "127.0.0.1", "--process-id", "0", "--num-processes", "2"],
         "--coordinator '127.0.0.1': expected HOST:PORT"),
        (["--coordinator", "h:0", "--process-id", "0", "--num-processes", "2"],
         "--coordinator 'h:0': the port must be 1 to 65535"),
        (["--coordinator", "h:1234", "--process-id", "2", "--num-processes", "2"],
         "--process-id 2: must be 0 to 1 for a run of 2 processes"),
        (["--coordinator", "h:1234", "--process-id", "-1", "--num-processes", "2"],
         "--process-id must be at least 0; got -1"),
        (["--coordinator", "h:1234", "--process-id", "0", "--num-processes", "0"],
         "--num-processes must be at least 1; got 0"),
        (["--coordinator", "h:1234", "--process-id", "one", "--num-processes", "2"],
         "--process-id must be a whole number; got 'one'"),
        (["--coordinator", "h:1234", "--num-processes", "2"], "--process-id is needed"),
        (["--process-id", "1", "--num-processes", "2"], "--coordinator is needed"),
        (["--coordinator", "h:1234", "--process-id", "1"], "--num-processes is needed"),
        (["--cluster", "--num-processes", "2"], "--cluster detects the processes"),
        (["--coordinator", "h:1", "--process-id", "1", "--num-processes", "2", "--timeout", "0"],
         "--timeout must be a positive number of seconds"),
        (["--coordinator", "no-such-host.invalid:1234", "--process-id", "1",
          "--num-processes", "2"], "--coordinator no-such-host.invalid:1234: unknown host"),
    ],
)  # fmt: skip
def test_bad_process_options_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    config = short_config(tmp_path)
    assert main(["reconstruct", str(config), "--out", str(tmp_path / "o"), *args]) == 2
    _one_line(capsys.readouterr().err, message)
    assert not (tmp_path / "o").exists()


def test_cluster_without_slurm_or_open_mpi_is_one_line(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("SLURM_", "OMPI_")):
            monkeypatch.delenv(name)
    config = short_config(tmp_path)
    [(p, _, err)] = _finish([_start(_ptyrax("reconstruct", str(config), "--cluster"))], 60)
    assert p.returncode == 2
    _one_line(err, "--cluster: no SLURM (srun) or Open MPI (mpirun) environment here")


def test_the_options_come_from_the_environment_when_not_given():
    environ = {"PTYRAX_COORDINATOR": "[::1]:5000", "PTYRAX_PROCESS_ID": "1"}
    environ["PTYRAX_NUM_PROCESSES"] = "4"
    options = cluster_options(environ=environ, timeout=5)
    assert options == Cluster(("::1", 5000), 1, 4, timeout=5)
    assert options.address == "[::1]:5000"
    assert cluster_options(process_id=3, environ=environ).process_id == 3  # given wins
    assert cluster_options(environ={}) is None  # one process
    assert cluster_options(num_processes=1, environ={}) is None
    assert parse_coordinator("node-07.cluster:51234") == ("node-07.cluster", 51234)
    with pytest.raises(Exception, match="PTYRAX_PROCESS_ID 7: must be 0 to 3"):
        cluster_options(environ=environ | {"PTYRAX_PROCESS_ID": "7"})


def test_a_cpu_process_of_a_run_held_to_one_core_is_told_to_take_two(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr("jax.process_count", lambda: 2)
    assert _distributed.one_core_warning(1) is None  # two cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    warning = _distributed.one_core_warning(1)
    assert warning.startswith("process 1 may use 1 core") and "--cpus-per-task=2" in warning
    monkeypatch.setattr("jax.process_count", lambda: 1)
    assert _distributed.one_core_warning(0) is None  # no all-reduce across processes
    monkeypatch.setattr("jax.process_count", lambda: 2)
    monkeypatch.setattr("jax.default_backend", lambda: "gpu")
    assert _distributed.one_core_warning(1) is None  # NCCL, not gloo


def test_the_command_prints_the_warning_as_one_line(tmp_path, monkeypatch, capsys):
    def join(options, devices, names):
        warnings.warn("process 1 may use 1 core: ...", SlowStepWarning, stacklevel=2)
        warnings.warn("something else", DeprecationWarning, stacklevel=2)

    monkeypatch.setattr(_distributed, "supervised", lambda: True)
    monkeypatch.setattr(_distributed, "join", join)
    monkeypatch.setattr(_distributed, "joined", lambda: None)
    monkeypatch.setattr(_command, "_reconstruct", lambda args, config, stop: 0)
    config = short_config(tmp_path)
    with warnings.catch_warnings(record=True) as others:
        warnings.simplefilter("always")
        argv = ["reconstruct", str(config), "--coordinator", "127.0.0.1:1234"]
        assert main([*argv, "--process-id", "1", "--num-processes", "2"]) == 0
    err = capsys.readouterr().err
    assert "ptyrax reconstruct: warning: process 1 may use 1 core: ...\n" in err
    assert [w.category for w in others] == [DeprecationWarning]  # others pass through


def test_sigterm_to_one_process_stops_every_process_of_the_run_at_the_same_epoch(tmp_path):
    """SIGTERM to process 1 only (through its supervisor): the processes agree at the next
    epoch's start, both exit 143, and process 0 writes the checkpoint there and says how to
    resume; nothing hangs waiting for a process that stopped."""
    config = short_config(
        tmp_path,
        stages=[{"epochs": 500, "learning_rate": 0.04, "batch_size": 200}],
        checkpoint_every=1,
    )
    outs = [tmp_path / "out", tmp_path / "out-1"]
    processes = _pair(config, outs)
    deadline = time.monotonic() + LIMIT
    while not (outs[0] / "checkpoint.ptyrax").exists():  # mid-run: an epoch is done
        assert all(p.poll() is None for p in processes), processes[0].communicate()
        assert time.monotonic() < deadline, "no epoch ended"
        time.sleep(0.1)
    processes[1].send_signal(signal.SIGTERM)
    (zero, _, err0), (one, _, err1) = _finish(processes, limit=60)
    assert (zero.returncode, one.returncode) == (143, 143), (err0, err1)
    line = err0.strip().splitlines()[-1]
    match = re.fullmatch(
        r"ptyrax reconstruct: stopped by SIGTERM after epoch (\d+); checkpoint (\S+): continue "
        r"with `ptyrax reconstruct (\S+) --out (\S+) --resume (\S+)`",
        line,
    )
    assert match, line
    assert "Traceback" not in err1 and "stopped by" not in err1  # process 1 writes nothing
    saved = ptyrax_core.load(outs[0] / "checkpoint.ptyrax")
    assert saved["epoch"] == int(match[1]) < 500
