import subprocess
import sys
from pathlib import Path

import pytest

from recsys_neg.config import COMPONENT_SECTIONS, config_from_dict, load_config, load_yaml, registries, resolved_dict
from recsys_neg.errors import ConfigError

PIPELINES = sorted((Path(__file__).parents[1] / "pipelines").glob("*.yaml"))


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
                                          "sampler.exclude_positives=false", "eval.ks=[5,10,20]"])
    assert cfg.train.epochs == 3 and cfg.eval.ks == [5, 10, 20]
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
    assert PIPELINES
    for f in PIPELINES:
        load_config(f)


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_switching_to_any_registered_component_gives_a_valid_config(pipeline):
    raw = load_yaml(pipeline)
    for section, registry in registries().items():
        for name in registry.names():
            cfg = config_from_dict(raw, str(pipeline), [f"{section}.name={name}"])
            assert cfg.component(section) == name


def test_switching_keeps_only_the_keys_that_mean_the_same():
    base = {"model": {"name": "mf", "embedding_dim": 16, "init_std": 0.05},
            "sampler": {"name": "uniform", "exclude_positives": False, "num_negatives": 8}}
    cfg = config_from_dict(base, overrides=["model.name=lightgcn", "sampler.name=popularity"])
    assert cfg.model.embedding_dim == 16  # declared once, by the embedding models' shared params
    assert cfg.model.init_std == 0.1  # LightGCN declares its own default: not carried
    assert cfg.sampler.num_negatives == 8 and cfg.sampler.exclude_positives is False
    cfg = config_from_dict(base, overrides=["sampler.name=in_batch"])
    assert cfg.sampler.num_negatives is None  # in-batch counts differently: not carried
    cfg = config_from_dict(base, overrides=["model.name=mostpop", "sampler.name=als_static"])
    assert cfg.component("model") == "mostpop" and cfg.sampler.num_negatives == 8
    # a field set on the command line applies after the switch, whatever the order
    cfg = config_from_dict(base, overrides=["sampler.alpha=0.3", "sampler.name=popularity"])
    assert cfg.sampler.alpha == 0.3


def test_sections_hold_typed_params_validated_once():
    from recsys_neg.samplers.dns import DNSParams

    cfg = config_from_dict({"sampler": {"name": "dns", "candidates": 8, "num_negatives": 2}})
    assert isinstance(cfg.sampler, DNSParams) and cfg.sampler.candidates == 8
    assert resolved_dict(cfg)["sampler"] == {"name": "dns", **DNSParams(candidates=8, num_negatives=2).model_dump()}
    with pytest.raises(ConfigError, match="candidates: 2 per row cannot give num_negatives=4"):
        config_from_dict({"sampler": {"name": "dns", "pool": "per_row", "candidates": 2, "num_negatives": 4}})
    with pytest.raises(ConfigError, match="shared in-batch negatives are the whole batch"):
        config_from_dict({"sampler": {"name": "in_batch", "num_negatives": 5}})


def test_num_negatives_in_train_says_where_it_moved():
    with pytest.raises(ConfigError, match="num_negatives moved to the sampler"):
        config_from_dict({"train": {"num_negatives": 4}})


def test_structure_errors_are_reported_before_torch_is_imported(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("train: {epochz: 3}\n")
    code = ("import sys\nfrom recsys_neg.config import load_config\ntry:\n    load_config(sys.argv[1])\n"
            "except Exception as e:\n    print(type(e).__name__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ConfigError", "False"]
