"""The training half of the model package: the session's real resnet18 training on the digits sample (its
accuracy and model dir), the engine and both entry points (EC2, and SageMaker with two simulated hosts running real
DDP) and kill/resume on the small slice of the sample (their wiring, not an accuracy), and the pieces whose bugs
would not show in an accuracy number (means, early stopping, hyperparameter parsing, offline weights).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from model import arguments, artifact, distributed, engine, hyperparameters, network, train_ec2, train_sagemaker
from model.metrics import METRIC_NAMES, format_metrics, metric_regex
from tests import recipe
from tests.helpers import REPO, free_port


def _env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SM_", "MLOPS_", "RANK", "WORLD_SIZE", "LOCAL_", "MASTER_"))
    }
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


def _metric(text: str, name: str) -> list[float]:
    return [float(value) for value in re.findall(metric_regex(name), text)]


# --- units -----------------------------------------------------------------------------------------------------


def test_split_means_are_per_sample_means_over_uneven_batches():
    torch.manual_seed(0)
    inputs, labels = torch.randn(10, 4), torch.randint(0, 3, (10,))
    model = nn.Linear(4, 3)
    runtime = distributed.Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), threads=1)
    step = engine._Step(model, torch.optim.SGD(model.parameters(), lr=0.0), runtime)
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=3)  # batches of 3, 3, 3, 1
    with torch.no_grad():
        logits = model(inputs)
    expected_loss = nn.functional.cross_entropy(logits, labels).item()
    expected_acc = (logits.argmax(1) == labels).float().mean().item()

    evaluated = engine.evaluate(step, loader)
    trained, _ = engine.train_one_epoch(step, loader, runtime)  # lr 0: the weights do not move

    for totals in (evaluated, trained):
        assert totals.count == 10
        assert totals.loss == pytest.approx(expected_loss, rel=1e-6)
        assert totals.accuracy == pytest.approx(expected_acc)
    # The course project's report: summed batch-mean losses floor-divided by the sample count.
    assert (
        sum(nn.functional.cross_entropy(logits[i : i + 3], labels[i : i + 3]).item() for i in range(0, 10, 3)) // 10
        == 0
    )


def test_split_totals_mean_is_exact_and_empty_split_is_nan():
    assert engine.SplitTotals(loss_sum=7.5, correct=3, count=4).loss == 1.875
    assert engine.SplitTotals(loss_sum=7.5, correct=3, count=4).accuracy == 0.75
    assert engine.SplitTotals().loss != engine.SplitTotals().loss  # nan


def test_early_stopping_counts_epochs_without_improvement():
    stopping = engine.EarlyStopping(patience=2)
    assert [stopping.update(loss) for loss in (1.0, 0.8, 0.85)] == [True, True, False]
    assert not stopping.should_stop
    assert stopping.update(0.9) is False and stopping.should_stop
    assert stopping.state_dict() == {"best": 0.8, "bad_epochs": 2}
    restored = engine.EarlyStopping(2, **stopping.state_dict())
    assert restored.should_stop
    never = engine.EarlyStopping(patience=0)
    for _ in range(5):
        never.update(1.0)
    assert never.bad_epochs == 4 and not never.should_stop


def test_hyperparameters_accept_json_values_and_both_spellings():
    parser = arguments.argument_parser("test")
    args = parser.parse_args(
        [
            "--batch-size",
            "64",
            "--arch",
            '"resnet34"',
            "--pretrained",
            '"false"',
            "--lr",
            '"0.01"',
            "--freeze_backbone",
            "True",
            "--hidden_units",
            "0",
            "--early-stopping-patience",
            "3",
            "--pretrained_fallback",
            "1",
            "--hflip",
            "true",
            "--sagemaker_program",
            "train_sagemaker.py",
            "--sagemaker-region=us-east-1",
        ]
    )
    config = arguments.config_from_args(args)
    assert (config.batch_size, config.arch, config.pretrained, config.lr) == (64, "resnet34", False, 0.01)
    assert (config.freeze_backbone, config.hidden_units, config.early_stopping_patience) == (True, 0, 3)
    assert config.pretrained_fallback is True and config.hflip is True
    assert config.epochs == hyperparameters.TrainConfig().epochs
    assert arguments.config_from_args(parser.parse_args(["--batch_size", "8"])).batch_size == 8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "two"], "argument --epochs: expected int, got 'two'"),
        (["--pretrained", "maybe"], "expected true/false/1/0"),
        (["--batchsize", "3"], "unknown argument(s): --batchsize 3"),
        (["--lr", "1.5e"], "expected float"),
    ],
)
def test_bad_hyperparameters_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        arguments.argument_parser("test").parse_args(argv)
    error = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in error and error.count("\n") == 1


def test_invalid_config_values_are_named():
    with pytest.raises(hyperparameters.ConfigError, match="epochs must be at least 1; lr_schedule must be one of"):
        hyperparameters.TrainConfig(epochs=0, lr_schedule="linear")


def test_metric_lines_parse_with_the_sagemaker_regexes():
    line = format_metrics({"epoch": 3, "train_loss": 0.41234, "valid_acc": 0.9, "lr": 1e-4, "images_per_s": 98.5})
    assert line == "epoch=3 train_loss=0.4123 valid_acc=0.9000 lr=0.0001 images_per_s=98.5000"
    assert _metric(line, "train_loss") == [0.4123] and _metric(line, "lr") == [0.0001]
    assert _metric("test_loss=1.5e-05", "test_loss") == [1.5e-05]
    assert not any(a != b and a.endswith(b) for a in METRIC_NAMES for b in METRIC_NAMES)


def test_missing_pretrained_weights_fail_fast_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)  # hermetic even where internet exists
    started = time.monotonic()
    with pytest.raises(network.PretrainedWeightsUnavailable) as error:
        network.build_model("resnet18", 10, pretrained=True)
    assert time.monotonic() - started < 10
    cache = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert "resnet18" in str(error.value) and str(cache) in str(error.value)
    assert "pretrained_fallback=true" in str(error.value)

    model = network.build_model("resnet18", 10, pretrained=True, pretrained_fallback=True)
    assert model.fc[-1].out_features == 10
    assert "training resnet18 from random init" in capsys.readouterr().err

    # A cached file is used without any download.
    assert not cache.exists()
    cache.parent.mkdir(parents=True, exist_ok=True)
    reference = network.models.resnet18()
    torch.save(reference.state_dict(), cache)
    loaded = network.build_model("resnet18", 10, pretrained=True)
    assert torch.equal(loaded.conv1.weight, reference.conv1.weight)


def test_frozen_backbone_trains_only_the_head_and_keeps_batchnorm_statistics():
    model = network.build_model("resnet18", 133, pretrained=False, freeze_backbone=True, hidden_units=128)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"}
    assert [module.out_features for module in model.fc if isinstance(module, nn.Linear)] == [128, 133]
    network.set_train_mode(model)
    assert model.fc.training and not model.layer1.training and not model.bn1.training
    linear = network.build_model("resnet50", 5, pretrained=False, freeze_backbone=False, hidden_units=0)
    assert isinstance(linear.fc, nn.Linear) and linear.fc.in_features == 2048


def test_sagemaker_hosts_become_torchrun_nodes():
    env = {"SM_HOSTS": '["algo-1", "algo-2", "algo-3"]', "SM_CURRENT_HOST": "algo-3", "SM_NUM_GPUS": "4"}
    command, child_env = train_sagemaker.torchrun_command(env, ["--epochs", "2"], "/code/train_sagemaker.py")
    for flag in ("--nnodes=3", "--node-rank=2", "--nproc-per-node=4", "--master-addr=algo-1", "--master-port=29500"):
        assert flag in command
    assert command[-3:] == ["/code/train_sagemaker.py", "--epochs", "2"]
    assert not any(part.startswith("--local-addr") for part in command) and "GLOO_SOCKET_IFNAME" not in child_env
    assert child_env["OMP_NUM_THREADS"] == str(max(1, distributed.available_cores() // 4))

    simulated = {
        "SM_HOSTS": '["algo-1", "algo-2"]',
        "SM_CURRENT_HOST": "algo-2",
        "MLOPS_MASTER_PORT": "29999",
        "MLOPS_HOST_ADDRESSES": '{"algo-1": "127.0.0.1", "algo-2": "127.0.0.2"}',
    }
    command, child_env = train_sagemaker.torchrun_command(simulated, [], "t.py")
    assert {"--master-addr=127.0.0.1", "--master-port=29999", "--local-addr=127.0.0.2"} <= set(command)
    assert child_env["GLOO_SOCKET_IFNAME"] == "lo"  # both "hosts" share this machine's cores and loopback
    assert child_env["OMP_NUM_THREADS"] == str(max(1, distributed.available_cores() // 2))

    assert train_sagemaker.torchrun_command({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}, [], "t") is None
    assert train_sagemaker.torchrun_command({**env, "LOCAL_RANK": "0"}, [], "t") is None  # already a worker
    with pytest.raises(hyperparameters.ConfigError, match="'algo-9' is not one of SM_HOSTS"):
        train_sagemaker.torchrun_command({**env, "SM_CURRENT_HOST": "algo-9"}, [], "t")


# --- real training ---------------------------------------------------------------------------------------------


def test_training_on_digits_reaches_90_percent_and_saves_a_loadable_model(trained_model):
    # The session's one training of the recipe (tests/conftest.py): its model and output dirs, unpacked.
    metrics = trained_model.metrics
    assert metrics["test_acc"] >= 0.90, metrics
    assert metrics["hyperparameters"] == dataclasses.asdict(recipe.train_config())
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert metrics["train_samples_per_rank"] == [1438] and metrics["test_samples"] == 179
    model_dir = trained_model.model_dir
    raw = torch.load(model_dir / "model.pt", weights_only=True)
    assert raw["class_names"][0] == "001.zero" and raw["arch"] == "resnet18" and raw["image_size"] == 32
    model, meta = artifact.load_model_dir(model_dir)
    assert not model.training and meta["num_classes"] == 10 and "state_dict" not in meta
    assert (model_dir / "code" / "inference.py").read_text().count("from model.inference import") == 1
    assert (model_dir / "code" / "model" / "engine.py").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))


@pytest.mark.training
def test_run_training_returns_what_it_writes_and_checkpoints_each_epoch(small_digits, tmp_path):
    # In-process, one epoch of the small slice: the engine's own contract (its accuracy is the test above's).
    threads = torch.get_num_threads()  # the engine sizes the thread pool for itself; give the rest theirs back
    try:
        returned = engine.run_training(
            recipe.train_config(epochs=1),
            small_digits,
            tmp_path / "model",
            output_dir=tmp_path / "output",
            checkpoint_dir=tmp_path / "checkpoints",
            log=lambda line: None,
        )
    finally:
        torch.set_num_threads(threads)
    written = json.loads((tmp_path / "output" / "metrics.json").read_text())
    assert written == json.loads(json.dumps(returned))
    assert written["train_samples_per_rank"] == [160] and written["test_samples"] == 40
    assert [row["epoch"] for row in written["epochs"]] == [1] and written["resumed_from_epoch"] is None
    assert torch.load(tmp_path / "checkpoints" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    artifact.load_model_dir(tmp_path / "model")


@pytest.mark.training
def test_ec2_entry_point_trains_from_plain_arguments(small_digits, tmp_path):
    # One epoch of the small slice: this checks the entry point's wiring; accuracy is the session training's.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "model.train_ec2",
            "--data-dir",
            str(small_digits),
            "--model-dir",
            str(tmp_path / "model"),
            *recipe.argv(epochs=1),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    # Every plain argument reached the engine, which trained on the data it was given.
    assert metrics["hyperparameters"] == dataclasses.asdict(recipe.train_config(epochs=1))
    assert metrics["train_samples_per_rank"] == [160] and metrics["test_samples"] == 40
    assert _metric(result.stdout, "test_acc") == [pytest.approx(metrics["test_acc"], abs=1e-4)]
    assert _metric(result.stdout, "epoch") == [1]
    artifact.load_model_dir(tmp_path / "model")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data-dir", "{tmp}/nowhere", "--model-dir", "{tmp}/m"], "has no train/ folder"),
        (["--data-dir", "{digits}", "--model-dir", "{tmp}/m", "--epochs", "0"], "epochs must be at least 1"),
        (["--model-dir", "{tmp}/m"], "the following arguments are required: --data-dir"),
    ],
)
def test_ec2_entry_point_bad_input_is_one_line_exit_2(argv, message, digits_dir, tmp_path, capsys):
    argv = [part.format(tmp=tmp_path, digits=digits_dir) for part in argv]
    # In-process (what `python -m model.train_ec2` runs; the test below runs one case as a real process).
    try:
        code = engine.run_entry_point(lambda: train_ec2.main([*recipe.argv(), *argv]))
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    error = capsys.readouterr().err
    assert code == 2
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.integration  # a real subprocess server: make test only
def test_ec2_entry_point_process_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "model.train_ec2",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--model-dir",
            str(tmp_path / "m"),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.startswith("error: data dir") and result.stderr.count("\n") == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.training
def test_sagemaker_entry_point_two_hosts_run_one_ddp_job(small_digits, tmp_path):
    # One epoch of the small slice: the wiring of two hosts into one DDP job; accuracy is the session training's.
    hosts = ["algo-1", "algo-2"]
    port = str(free_port())
    processes = []
    for host in hosts:
        root = tmp_path / host
        env = _env(
            SM_HOSTS=json.dumps(hosts),
            SM_CURRENT_HOST=host,
            SM_NUM_GPUS="0",
            SM_CHANNEL_TRAINING=str(small_digits),
            SM_MODEL_DIR=str(root / "model"),
            SM_OUTPUT_DATA_DIR=str(root / "output"),
            MLOPS_CHECKPOINT_DIR=str(root / "checkpoints"),
            MLOPS_MASTER_PORT=port,
            MLOPS_HOST_ADDRESSES=json.dumps({"algo-1": "127.0.0.1", "algo-2": "127.0.0.2"}),
        )
        # Hyperparameters arrive JSON-encoded, as the SageMaker container passes them.
        argv = [
            "--epochs",
            "1",
            "--arch",
            '"resnet18"',
            "--pretrained",
            '"false"',
            "--freeze_backbone",
            "false",
            "--hidden_units",
            "0",
            "--image_size",
            "32",
            "--batch_size",
            "32",
            "--lr",
            '"0.003"',
            "--lr_schedule",
            '"cosine"',
        ]
        processes.append(
            subprocess.Popen(
                [sys.executable, str(REPO / "model" / "train_sagemaker.py"), *argv],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
        assert "launcher.py --nnodes=2" in output
    assert "--node-rank=0" in outputs[0] and "--node-rank=1" in outputs[1]
    assert "world_size=2 backend=gloo" in outputs[0] and "train_samples_per_rank=80,80" in outputs[0]

    metrics = json.loads((tmp_path / "algo-1" / "output" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["train_samples_per_rank"] == [80, 80]
    assert metrics["test_samples"] == 40  # both shards counted once each
    # The JSON-encoded hyperparameters, decoded as SageMaker's container passes them, reached the engine.
    assert metrics["hyperparameters"] == dataclasses.asdict(recipe.train_config(epochs=1))
    assert not (tmp_path / "algo-2" / "model").exists() or not any((tmp_path / "algo-2" / "model").iterdir())
    assert not (tmp_path / "algo-2" / "output" / "metrics.json").exists()
    payload = torch.load(tmp_path / "algo-1" / "model" / "model.pt", weights_only=True)
    assert not any(name.startswith("module.") for name in payload["state_dict"])
    artifact.load_model_dir(tmp_path / "algo-1" / "model")


@pytest.mark.training
def test_killed_run_resumes_from_its_checkpoint(small_digits, tmp_path):
    # The small slice, EPOCHS short epochs: killed once its first checkpoint is written, resumed to the end.
    epochs = 4
    checkpoint = tmp_path / "checkpoints" / "checkpoint.pt"
    command = [
        sys.executable,
        "-m",
        "model.train_ec2",
        "--data-dir",
        str(small_digits),
        "--model-dir",
        str(tmp_path / "model"),
        "--checkpoint-dir",
        str(checkpoint.parent),
        *recipe.argv(epochs=epochs),
    ]
    first = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL, "training ended before it could be killed"
    saved_epoch = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= saved_epoch < epochs  # killed mid-run (the first checkpoint, unless this machine stalled the poll)
    assert not (tmp_path / "model" / "model.pt").exists()

    resumed = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from checkpoint {checkpoint} after epoch {saved_epoch}" in resumed.stdout
    assert _metric(resumed.stdout, "epoch") == list(range(saved_epoch + 1, epochs + 1))
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == list(range(1, epochs + 1))
    assert metrics["resumed_from_epoch"] == saved_epoch
    assert torch.load(checkpoint, weights_only=True)["epoch"] == epochs  # the last epoch's, once the run ends
    artifact.load_model_dir(tmp_path / "model")

    # The checkpoint belongs to this model: another head is refused, with one line.
    other = subprocess.run(
        [*command, "--hidden-units", "64"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert other.returncode == 2 and "was written for a different model" in other.stderr
    assert "Traceback" not in other.stderr
