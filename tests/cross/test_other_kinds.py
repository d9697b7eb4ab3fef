"""The first-party readers and penalties with every plugin installed (tox env `all`): each
distribution contributes what `_firstparty.OTHER_KINDS` says, every penalty follows the
engine's kit, and no two readers open the same name ending."""

import inspect

import jax.numpy as jnp
import numpy as np
from ptyrax_reconstruct import Penalty, Reader
from ptyrax_reconstruct._calibration import KEYS
from ptyrax_reconstruct.testing import check_penalty

from ptyrax_core import registry
from ptyrax_core._firstparty import OTHER_KINDS


def test_each_distribution_contributes_what_it_declares():
    plugins = {p.distribution: p for p in registry.plugins()}
    for dist, names in OTHER_KINDS.items():
        assert plugins[dist].error is None
        contributed = {n for kind, made in plugins[dist].contributions.items() for n in made}
        assert contributed == set(names)


ARGUMENTS = {"probe_power": {"target": 2.0}}
"""Arguments for the penalties that require some (a new one with required arguments adds its
own here)."""


def test_every_penalty_follows_the_kit_on_real_and_complex_arrays():
    x = np.random.default_rng(0).normal(size=(3, 8, 8)).astype(np.float32)
    for name in registry.names("penalties"):
        penalty = registry.get(name, "penalties")(**ARGUMENTS.get(name, {}))
        assert isinstance(penalty, Penalty)
        check_penalty(penalty, jnp.asarray(x))
        check_penalty(penalty, jnp.exp(1j * jnp.asarray(x)))


def test_no_two_readers_open_one_name_ending_and_none_takes_an_engine_key():
    owner = {}
    for name in registry.names("readers"):
        cls = registry.get(name, "readers")
        assert issubclass(cls, Reader) and cls.registry_name == name
        for suffix in cls.suffixes:
            assert owner.setdefault(suffix, name) == name, (suffix, owner[suffix], name)
        assert not set(inspect.signature(cls).parameters) & {*KEYS, "file", "reader"}
