import json
import pathlib

import pytest
from ptyrax_reconstruct._config import COMPONENTS, SCHEMA, Config, Stage, load_config
from ptyrax_reconstruct._errors import ReconstructError


def _config(**tables):
    """A minimal dict config (data.file set) with `tables` merged in."""
    return {"data": {"file": "scan.cxi"}, **tables}


def _raises(match, source, **kwargs):
    with pytest.raises(ReconstructError, match=match) as info:
        load_config(source, **kwargs)
    return str(info.value)


# the example and defaults


def test_example_config_loads_as_written(example_config):
    """The shipped config: near field, focus 3.65 mm, the cdtools schedule and five components."""
    config = load_config(example_config)
    assert config.propagation == "near_field"
    assert config.focus_to_sample == 3.65e-3
    assert config.padding == 10 and config.probe_modes == 1 and config.loss == "poisson"
    assert config.stages == (Stage(100, 0.04, 10), Stage(50, 0.005, 50))
    assert config.epochs == 150
    assert config.seed == 0 and config.checkpoint_every == 50
    assert {c: spec["type"] for c, spec in config.model.items()} == {
        "object": "direct",
        "probe": "direct",
        "positions": "index_slice",
        "weights": "index_slice",
        "background": "non_negative",
    }
    assert config.rate_scale == {} and config.start_epoch == {}


def test_example_config_data_path_is_relative_to_the_config_folder(example_config):
    """data.file = "data/..." resolves against examples/, not the working directory."""
    config = load_config(example_config)
    assert config.base_dir == example_config.parent
    assert config.data == example_config.parent / "data" / "PETRAIII_P25_Near_Field_Ptycho.cxi"
    assert config.data.is_file()


def test_settings_are_plain_json_data(example_config):
    """settings() (stored in metrics.json and checkpoints) serializes and keeps the schedule."""
    settings = json.loads(json.dumps(load_config(example_config).settings()))
    assert settings["data"].endswith("PETRAIII_P25_Near_Field_Ptycho.cxi")
    assert settings["stages"][1] == {"epochs": 50, "learning_rate": 0.005, "batch_size": 50}


def test_dict_config_paths_start_from_base_dir(tmp_path):
    """A dict config resolves data.file against base_dir (default the working directory)."""
    assert load_config(_config(), base_dir=tmp_path).data == tmp_path / "scan.cxi"
    assert load_config(_config(), base_dir=tmp_path).base_dir == tmp_path
    assert load_config(_config()).data == pathlib.Path("scan.cxi")
    absolute = tmp_path / "elsewhere.cxi"
    assert load_config({"data": {"file": str(absolute)}}, base_dir="/x").data == absolute


def test_config_file_base_dir_can_be_overridden(tmp_path):
    """A TOML file's paths start from its folder unless base_dir is given."""
    (tmp_path / "c.toml").write_text('[data]\nfile = "scan.cxi"\n')
    assert load_config(tmp_path / "c.toml").data == tmp_path / "scan.cxi"
    assert load_config(tmp_path / "c.toml", base_dir="/data").data == pathlib.Path("/data/scan.cxi")


def test_minimal_config_gets_the_defaults():
    """Only data.file: near field, plane wave, the three required components, one stage."""
    config = load_config(_config())
    assert config.propagation == "near_field" and config.focus_to_sample is None
    assert config.model == {
        "object": {"type": "direct"},
        "probe": {"type": "direct"},
        "positions": {"type": "index_slice"},
    }
    assert config.stages == (Stage(1, 0.04, 10),)
    assert config.loss == "amplitude" and config.probe_modes == 1 and config.padding == 10


def test_component_spec_arguments_pass_through():
    """Keys of a component table other than type are the parametrization's arguments."""
    config = load_config(_config(model={"object": {"type": "phase_only", "scale": 2.0}}))
    assert config.model["object"] == {"type": "phase_only", "scale": 2.0}


def test_far_field_config():
    """propagation = far_field without a focus is accepted."""
    config = load_config(_config(geometry={"propagation": "far_field"}))
    assert config.propagation == "far_field" and config.focus_to_sample is None


# unknown keys: the path, the valid keys, the close match


def test_unknown_top_level_key_is_named_with_the_valid_keys():
    """[dat] at the top level: 'did you mean data', and the list of top-level tables."""
    message = _raises("unknown key 'dat'", {"dat": {"file": "x"}})
    assert "did you mean 'data'?" in message
    assert "the top level: length_unit, data, geometry, model, loss, fit" in message


def test_unknown_key_in_fit_is_named_with_its_path():
    """fit.stage instead of fit.stages."""
    message = _raises("unknown key 'fit.stage'", _config(fit={"stage": []}))
    assert "did you mean 'stages'?" in message
    assert "valid keys in [fit]: " + ", ".join(SCHEMA["fit"]) in message


def test_unknown_key_in_a_stage_names_the_stage_and_suggests_the_key():
    """[[fit.stages]] number 1 with 'epoch': the path fit.stages[1].epoch, the stage's keys."""
    stages = [{"epochs": 2}, {"epoch": 3, "learning_rate": 0.1}]
    message = _raises(r"unknown key 'fit\.stages\[1\]\.epoch'", _config(fit={"stages": stages}))
    assert "did you mean 'epochs'?" in message
    assert "epochs, learning_rate, batch_size" in message


def test_unknown_key_without_a_close_match_gives_no_suggestion():
    """A key like nothing valid: the valid keys, no 'did you mean'."""
    message = _raises("unknown key 'geometry.zzz'", _config(geometry={"zzz": 1}))
    assert "did you mean" not in message
    assert "propagation, focus_to_sample, padding" in message


def test_unknown_component_and_rate_scale_keys():
    """A misspelt component under [model] or [fit.rate_scale] is an unknown key."""
    _raises("unknown key 'model.obejct'.*did you mean 'object'", _config(model={"obejct": {}}))
    _raises("unknown key 'fit.rate_scale.prob'", _config(fit={"rate_scale": {"prob": 1.0}}))


# wrong types and values out of range


@pytest.mark.parametrize(
    ("tables", "match"),
    [
        ({"geometry": {"padding": "10"}}, "geometry.padding must be an integer; got str '10'"),
        ({"geometry": {"padding": 1.5}}, "geometry.padding must be an integer"),
        ({"geometry": {"focus_to_sample": "3mm"}}, "geometry.focus_to_sample must be a number"),
        ({"geometry": {"propagation": 1}}, "geometry.propagation must be a string"),
        ({"geometry": 3}, "geometry must be a table"),
        ({"fit": {"stages": {"epochs": 2}}}, "fit.stages must be a list of tables"),
        ({"fit": {"stages": [1]}}, r"fit.stages\[0\] must be a table"),
        ({"fit": {"stages": [{"learning_rate": True}]}}, "learning_rate must be a number"),
        ({"fit": {"stages": [{"epochs": 2.0}]}}, r"fit.stages\[0\].epochs must be an integer"),
        ({"fit": {"seed": True}}, "fit.seed must be an integer; got bool"),
        ({"model": {"probe_modes": "2"}}, "model.probe_modes must be an integer"),
        ({"model": {"object": "direct"}}, "model.object must be a table"),
        ({"model": {"object": {"type": 3}}}, "model.object.type must be a registry name"),
        ({"loss": {"kind": 2}}, "loss.kind must be a string"),
    ],
)
def test_wrong_types_are_named(tables, match):
    """Each key of the wrong type: its path, the expected kind."""
    _raises(match, _config(**tables))


@pytest.mark.parametrize(
    ("tables", "match"),
    [
        ({"fit": {"stages": [{"epochs": 0}]}}, r"fit.stages\[0\].epochs must be at least 1"),
        (
            {"fit": {"stages": [{}, {"batch_size": 0}]}},
            r"stages\[1\].batch_size must be at least 1",
        ),
        ({"fit": {"stages": [{"learning_rate": -0.1}]}}, "learning_rate must be a non-negative"),
        ({"fit": {"stages": [{"learning_rate": float("nan")}]}}, "learning_rate must be a non-neg"),
        ({"fit": {"stages": []}}, "fit.stages must hold at least one stage"),
        ({"fit": {"rate_scale": {"probe": -1.0}}}, "fit.rate_scale.probe must be a non-negative"),
        ({"fit": {"start_epoch": {"probe": -1}}}, "fit.start_epoch.probe must be at least 0"),
        ({"fit": {"seed": -1}}, "fit.seed must be at least 0"),
        ({"fit": {"checkpoint_every": -5}}, "fit.checkpoint_every must be at least 0"),
        ({"geometry": {"propagation": "nearfield"}}, r"must be one of \['far_field', 'near_f"),
        ({"geometry": {"focus_to_sample": 0.0}}, "focus_to_sample must be a positive number"),
        ({"geometry": {"focus_to_sample": -3e-3}}, "focus_to_sample must be a positive number"),
        ({"geometry": {"focus_to_sample": float("inf")}}, "focus_to_sample must be a positive"),
        (
            {"geometry": {"propagation": "far_field", "focus_to_sample": 3e-3}},
            "focus_to_sample applies to the near field only",
        ),
        ({"geometry": {"padding": -1}}, "geometry.padding must be at least 0"),
        ({"model": {"probe_modes": 0}}, "model.probe_modes must be at least 1"),
        ({"loss": {"kind": "l2"}}, r"loss.kind must be one of \['poisson', 'amplitude'\]"),
    ],
)
def test_values_out_of_range_are_named(tables, match):
    """Each value out of range: its path, what it must be."""
    _raises(match, _config(**tables))


def test_missing_data_file():
    """No data.file (no [data] at all, or an empty one)."""
    _raises("data.file is required", {"fit": {"seed": 1}})
    _raises("data.file is required", {"data": {}})


@pytest.mark.parametrize("table", ["rate_scale", "start_epoch"])
def test_rate_scale_or_start_epoch_of_a_component_the_model_lacks(table):
    """fit.rate_scale.weights without [model.weights]: the fix is named."""
    value = 0.5 if table == "rate_scale" else 3
    _raises(
        rf"fit\.{table}\.weights: the model has no weights \(add \[model\.weights\]\)",
        _config(fit={table: {"weights": value}}),
    )
    config = load_config(_config(model={"weights": {}}, fit={table: {"weights": value}}))
    assert getattr(config, table) == {"weights": value}


def test_invalid_toml(tmp_path):
    """A file that is not TOML: its path and the parser's message."""
    path = tmp_path / "bad.toml"
    path.write_text("[data\nfile = 'x'\n")
    message = _raises("not valid TOML", path)
    assert str(path) in message


def test_missing_config_file(tmp_path):
    """A config path that does not exist."""
    _raises("no such config file", tmp_path / "absent.toml")


def test_unreadable_config_is_a_reconstruct_error(tmp_path):
    """A folder, or bytes that are not UTF-8, where the config should be."""
    _raises("cannot read the config", tmp_path)
    (tmp_path / "latin.toml").write_bytes(b"[data]\nfile = '\xe9'\n")
    _raises("cannot read the config", tmp_path / "latin.toml")


# the schedule


def _schedule():
    return Config(
        data=None,
        model={c: {"type": "direct"} for c in ("object", "probe", "positions")},
        stages=(Stage(2, 0.1, 10), Stage(3, 0.01, 50)),
        rate_scale={"probe": 0.5, "object": 0.0},
        start_epoch={"positions": 3},
    )


def test_stage_at_switches_stage_at_the_boundary():
    """Epochs 0-1 are stage 0, 2-4 stage 1; epoch 5 is beyond the schedule."""
    config = _schedule()
    assert config.epochs == 5
    assert [config.stage_at(e).learning_rate for e in range(5)] == [0.1, 0.1, 0.01, 0.01, 0.01]
    with pytest.raises(IndexError):
        config.stage_at(5)


def test_rates_honour_rate_scale_and_start_epoch():
    """rate = stage rate * rate_scale, and 0 before the component's start_epoch."""
    config = _schedule()
    assert config.rates(0) == {"object": 0.0, "probe": 0.05, "positions": 0.0}
    assert config.rates(2) == {"object": 0.0, "probe": 0.005, "positions": 0.0}
    assert config.rates(3) == {"object": 0.0, "probe": 0.005, "positions": 0.01}
    assert set(config.rates(4)) == set(config.model)


def test_loaded_rate_scale_and_start_epoch_reach_the_rates():
    """From a config dict to Config.rates."""
    config = load_config(
        _config(
            model={"background": {}},
            fit={
                "stages": [{"epochs": 4, "learning_rate": 0.2}],
                "rate_scale": {"background": 0.25},
                "start_epoch": {"positions": 2},
            },
        )
    )
    assert config.rates(1) == {"object": 0.2, "probe": 0.2, "positions": 0.0, "background": 0.05}
    assert config.rates(2)["positions"] == 0.2


def test_schema_lists_every_component():
    """rate_scale and start_epoch accept exactly the model's components."""
    assert set(SCHEMA["fit.rate_scale"]) == set(COMPONENTS) == set(SCHEMA["fit.start_epoch"])
    assert set(COMPONENTS) <= set(SCHEMA["model"])


def test_a_multislice_object_needs_a_positive_slice_spacing():
    config = load_config(_config(geometry={"slices": 3, "slice_spacing": 1e-6}))
    assert config.slices == 3 and config.slice_spacing == 1e-6
    _raises("geometry.slice_spacing .m. is required", _config(geometry={"slices": 2}))
    _raises(
        "geometry.slice_spacing must be a positive number",
        _config(geometry={"slices": 2, "slice_spacing": -1e-6}),
    )
    _raises("geometry.slices must be at least 1", _config(geometry={"slices": 0}))


def test_penalty_tables_become_specs_with_their_own_arguments():
    """`[[loss.penalties]]`: type, component, on (default value) and weight; every other key
    is the penalty's own argument, passed on as it is."""
    tables = [
        {"type": "total_variation", "component": "object", "on": "phase", "weight": 0.1},
        {"type": "probe_power", "component": "probe", "weight": 2, "target": 1e6},
    ]
    config = load_config(_config(loss={"kind": "poisson", "penalties": tables}))
    first, second = config.penalties
    assert (first.type, first.component, first.on, first.weight) == (
        "total_variation",
        "object",
        "phase",
        0.1,
    )
    assert first.arguments == {} and second.on == "value" and second.weight == 2.0
    assert second.arguments == {"target": 1e6}
    assert load_config(_config()).penalties == ()
    assert json.dumps(config.settings())  # plain data, for metrics.json


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"component": "object", "weight": 1.0}, r"loss\.penalties\[0\]\.type is required"),
        ({"type": "l1", "weight": 1.0}, r"loss\.penalties\[0\]\.component is required"),
        ({"type": "l1", "component": "object"}, r"loss\.penalties\[0\]\.weight is required"),
        (
            {"type": "l1", "component": "object", "weight": -1.0},
            r"loss\.penalties\[0\]\.weight must be a non-negative number; got -1\.0",
        ),
        (
            {"type": "l1", "component": "object", "weight": 1.0, "on": "angle"},
            r"loss\.penalties\[0\]\.on must be one of \['value', 'phase', 'amplitude', 're",
        ),
        ({"type": 3, "component": "object", "weight": 1.0}, r"penalties\[0\]\.type must be a"),
    ],
)
def test_a_bad_penalty_table_is_named(table, match):
    _raises(match, _config(loss={"penalties": [table]}))


def test_a_penalty_of_a_component_the_model_lacks_or_of_no_installed_type_is_refused():
    """Checked when the run is prepared, before the data is read: the component by the
    model's components, the type by the registry's penalties."""
    from ptyrax_reconstruct._penalties import PenaltySpec, build_terms

    with pytest.raises(ReconstructError, match=r"penalties\[0\]\.component: the model has no "):
        build_terms((PenaltySpec("l1", "weights", weight=1.0),), ["object", "probe"])
    with pytest.raises(ReconstructError, match=r"penalties\[0\]\.type: No penalty is regist"):
        build_terms((PenaltySpec("no_such_penalty", "object", weight=1.0),), ["object"])


def test_a_config_in_angstrom_holds_metres():
    config = load_config(
        {
            "length_unit": "A",
            "data": {"file": "a.h5", "scan_step": 0.4, "pixel_size": [1.0, 2.0]},
            "geometry": {"propagation": "far_field", "slices": 3, "slice_spacing": 20.0},
        }
    )
    assert config.length_unit == "A" and config.slice_spacing == pytest.approx(2e-9, rel=1e-15)
    assert config.reader_arguments == {"scan_step": 0.4, "pixel_size": [1.0, 2.0]}  # read_data's
    with pytest.raises(ReconstructError, match="config: length_unit must be one of"):
        load_config({"length_unit": "inch", "data": {"file": "a.h5"}})
