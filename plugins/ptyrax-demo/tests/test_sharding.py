"""The step really runs data-parallel: checked in a process with 8 host devices."""

import os
import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    from ptyrax_demo._reconstruct import Settings, prepare
    from ptyrax_demo._simulate import simulate

    fit = prepare(simulate(grid=4), Settings(devices=8))
    indices, amplitudes, weights = fit.batch
    assert len(jax.devices()) == 8
    assert indices.sharding.spec == jax.sharding.PartitionSpec("scan")
    assert len(amplitudes.addressable_shards) == 8
    assert amplitudes.addressable_shards[0].data.shape == (2, 64, 64)  # 16 positions / 8
    compiled = fit.step.lower(fit.params, fit.state, fit.batch).compile().as_text()
    assert "all-reduce" in compiled, "no cross-device sum: the step is not data-parallel"
    params, state, loss = fit.step(fit.params, fit.state, fit.batch)
    assert jax.tree.leaves(params)[0].sharding.is_fully_replicated
    print("ok")
    """
)


def test_positions_are_split_over_the_devices_and_gradients_summed():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    result = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
