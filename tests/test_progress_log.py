"""Training progress: ignite's bar on a terminal, one log line per epoch when stderr is redirected."""

from __future__ import annotations

import logging
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ignite")

from ignite.engine import Engine  # noqa: E402

from monai_ccnet.workflows.training import ProgressBarHandler  # noqa: E402

LOSSES = [0.9, 0.7, 0.5, 0.4, 0.3, 0.2]  # two epochs of three iterations


def _trainer() -> Engine:
    losses = iter(LOSSES)
    # MONAI's trainers decollate: the output is a list of dicts, each carrying the batch's loss
    return Engine(lambda engine, batch: [{"loss": torch.tensor(next(losses))}])


def test_redirected_stderr_logs_one_line_per_epoch(monkeypatch, caplog, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    handler = ProgressBarHandler()
    assert handler.bar is None
    trainer = _trainer()
    handler.attach(trainer)
    with caplog.at_level(logging.INFO, logger="ccnet.train"):
        trainer.run([0, 1, 2], max_epochs=2)
    assert [r.getMessage() for r in caplog.records if r.name == "ccnet.train"] == [
        "epoch 1/2: mean loss 0.7000 over 3 iterations",
        "epoch 2/2: mean loss 0.3000 over 3 iterations",
    ]
    assert "\r" not in capsys.readouterr().err  # no progress-bar redraws


def test_terminal_gets_the_progress_bar(monkeypatch, caplog, capsys):
    from ignite.handlers import ProgressBar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    handler = ProgressBarHandler(persist=True)
    assert isinstance(handler.bar, ProgressBar)
    trainer = _trainer()
    handler.attach(trainer)
    with caplog.at_level(logging.INFO, logger="ccnet.train"):
        trainer.run([0, 1, 2], max_epochs=2)
    assert not [r for r in caplog.records if r.name == "ccnet.train"]
    assert "Epoch [2/2]" in capsys.readouterr().err  # the bar, drawn on stderr


def test_no_stderr_counts_as_redirected(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    assert ProgressBarHandler().bar is None
