"""grading.toml is validated: a typo names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader._exceptions import ConfigError
from grader.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def test_the_exercise_config_is_valid_and_sums_to_100():
    config = load_config(ROOT / "reference/ex2/grading.toml")
    assert config.max_score == 100
    assert "torch.nn.functional.relu" in config.forbidden_calls()["relu"]
    assert "torch.nn.functional.softmax" in config.forbidden_calls()["cross_entropy"]
    assert "torch.nn.functional.softmax" not in config.forbidden_calls().get("MLP", [])


def test_typo_names_file_and_key(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text(
        'name = "x"\ntitle = "t"\nmodule = "x"\n[[parts]]\nname = "P"\npionts = 3\nfunctions = ["f"]\n'
    )
    with pytest.raises(
        ConfigError,
        match=r"grading.toml: parts.0.points: Field required; parts.0.pionts: Extra inputs",
    ):
        load_config(path)


def test_not_toml(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text("name = ")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)


def test_forbidden_for_unknown_function(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text(
        'name = "x"\ntitle = "t"\nmodule = "x"\n[[parts]]\nname = "P"\npoints = 3\nfunctions = ["f"]\n[forbidden]\ng = ["torch.relu"]\n'
    )
    with pytest.raises(ConfigError, match="forbidden names functions that no part lists: g"):
        load_config(path)
