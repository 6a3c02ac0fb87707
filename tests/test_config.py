import pytest

from recsys_neg.config import config_from_dict, load_config, resolved_dict
from recsys_neg.errors import ConfigError


def test_defaults_validate_and_resolve_component_params():
    cfg = config_from_dict({})
    resolved = resolved_dict(cfg)
    assert resolved["model"]["name"] == "mf" and resolved["model"]["embedding_dim"] == 64
    assert resolved["sampler"]["name"] == "uniform" and resolved["sampler"]["exclude_positives"] is True
    assert resolved["train"]["epochs"] == 20 and resolved["eval"]["ks"] == [10, 20, 50]


def test_unknown_top_level_field_names_the_path():
    with pytest.raises(ConfigError, match=r"train\.epoch"):
        config_from_dict({"train": {"epoch": 3}}, "p.yaml")


def test_wrong_type_names_the_path():
    with pytest.raises(ConfigError, match=r"p.yaml.*\n.*train\.lr"):
        config_from_dict({"train": {"lr": "fast"}}, "p.yaml")


def test_component_param_typo_names_section_and_field():
    with pytest.raises(ConfigError, match=r"sampler\.exclude_positive"):
        config_from_dict({"sampler": {"name": "uniform", "exclude_positive": False}})


def test_unknown_component_lists_choices():
    with pytest.raises(ConfigError, match="unknown sampler 'unifrom'.*uniform"):
        config_from_dict({"sampler": {"name": "unifrom"}})


def test_overrides_set_nested_fields_with_yaml_types():
    cfg = config_from_dict({}, overrides=["train.epochs=3", "model.embedding_dim=16",
                                          "sampler.exclude_positives=false", "eval.ks=[5,10]"])
    assert cfg.train.epochs == 3 and cfg.eval.ks == [5, 10]
    assert resolved_dict(cfg)["model"]["embedding_dim"] == 16
    assert resolved_dict(cfg)["sampler"]["exclude_positives"] is False
    with pytest.raises(ConfigError, match="key.path=value"):
        config_from_dict({}, overrides=["train.epochs"])


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ntrain:\n  epochs: [1, 2\n  lr: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+"):
        load_config(p)


def test_missing_pipeline_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_bundled_pipelines_validate():
    from pathlib import Path

    files = sorted((Path(__file__).parents[1] / "pipelines").glob("*.yaml"))
    assert files
    for f in files:
        load_config(f)
