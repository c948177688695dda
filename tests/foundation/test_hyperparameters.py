"""Hyperparameters are declared once (model/hyperparameters.py); the config schema and the training request
derive from that declaration."""

from __future__ import annotations

import typing

from mlops_cli.config.schema import Hyperparameters, ModelConfig
from mlops_cli.services.training.job import HYPERPARAMETER_SECTIONS
from model import hyperparameters
from model.hyperparameters import MODEL_SECTION, TRAIN_SECTION


def schema_fields(section: type) -> dict[str, typing.Any]:
    return {name: info for name, info in section.model_fields.items() if name != "num_classes"}


def test_the_schema_holds_each_declared_hyperparameter_with_its_type_default_and_bounds():
    for section, model in ((TRAIN_SECTION, Hyperparameters), (MODEL_SECTION, ModelConfig)):
        declared = {spec.name: spec for spec in hyperparameters.declared(section)}
        found = schema_fields(model)
        assert list(found) == list(declared)
        for name, spec in declared.items():
            rule = hyperparameters.rule_of(spec)
            assert found[name].default == spec.default
            annotation = found[name].annotation
            if rule.choices:
                assert typing.get_args(annotation) == rule.choices
            else:
                assert annotation is hyperparameters.kind_of(spec)


def test_the_schema_refuses_what_the_engine_refuses():
    import pytest
    from pydantic import ValidationError

    for section, model in ((TRAIN_SECTION, Hyperparameters), (MODEL_SECTION, ModelConfig)):
        for spec in hyperparameters.declared(section):
            rule = hyperparameters.rule_of(spec)
            bad = [rule.maximum * 2 + 1] if rule.maximum is not None else []
            bad += [rule.minimum - 1] if rule.minimum is not None else []
            bad += [0] if rule.positive else []
            bad += ["no-such-choice"] if rule.choices else []
            for value in bad:
                value = hyperparameters.kind_of(spec)(value)
                with pytest.raises(ValidationError):
                    model.model_validate({spec.name: value})
                with pytest.raises(hyperparameters.ConfigError):
                    hyperparameters.TrainConfig(**{spec.name: value})


def test_the_training_request_carries_every_hyperparameter_the_config_keeps():
    assert HYPERPARAMETER_SECTIONS == {
        spec.name: hyperparameters.rule_of(spec).section
        for spec in hyperparameters.declared()
        if hyperparameters.rule_of(spec).section
    }
    assert set(HYPERPARAMETER_SECTIONS) == {spec.name for spec in hyperparameters.declared()} - {"workers"}
