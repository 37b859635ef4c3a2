"""The conventions every nii subcommand follows (nii/cli/_conventions.py), checked on the parser and end to end.

- ``-o`` names a file and ``--out`` a folder, in every command;
- ``--device`` wherever ``--backend`` is;
- ``--no-progress`` and ``--quiet`` on every long command; bars only on a terminal;
- ``--json`` on ``inspect``, ``calibrate``, ``discriminate`` (and ``info``);
- built-in suite names never resolved against the current folder;
- counts agree with their noun.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from nii.cli import build_parser, main

LONG_COMMANDS = ("simulate", "inspect", "bench", "calibrate")
JSON_COMMANDS = ("inspect", "calibrate", "discriminate", "info")

TINY_SUITE = """
name = "tiny"
seed = 5
[scanner]
channels = 32
pulses = 240
[[scans]]
id = "tiny-clean"
kind = "scenario"
container = "20ft"
cargo_chapter = "61"
threat = "none"
[[scans]]
id = "tiny-lead"
kind = "scenario"
container = "20ft"
cargo_chapter = "61"
threat = "lead_block"
threat_size = "large"
"""


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix}{name}"] = sub
                found.update(_subparsers(sub, f"{prefix}{name} "))
    return found


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


COMMANDS = _subparsers(build_parser())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny suite simulated once: a clean scan and a lead block (32 channels)."""
    root = tmp_path_factory.mktemp("tiny")
    suite = root / "tiny.toml"
    suite.write_text(TINY_SUITE)
    assert main(["simulate", "--suite", str(suite), "--out", str(root / "scans"), "--quiet"]) == 0
    return root


# ----------------------------------------------------------------------- parser level


def test_every_command_is_there():
    assert {"demo", "info", "simulate", "calibrate", "discriminate", "render", "inspect", "bench", "export",
            "export coco"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_o_is_a_file_and_out_a_folder(name):
    options = _options(COMMANDS[name])
    if "-o" in options:
        action = options["-o"]
        assert action.metavar and "." in action.metavar, f"nii {name} -o should name a file (FILE.ext), got {action.metavar}"
        assert "--out" not in action.option_strings
    if "--out" in options:
        action = options["--out"]
        assert action.option_strings == ["--out"] and action.metavar == "DIR", f"nii {name} --out should be a folder"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_device_wherever_backend_is(name):
    options = _options(COMMANDS[name])
    if "--backend" in options:
        assert "--device" in options, f"nii {name} has --backend but no --device"


@pytest.mark.parametrize("name", LONG_COMMANDS)
def test_long_commands_have_no_progress_and_quiet(name):
    options = _options(COMMANDS[name])
    assert "--no-progress" in options and "--quiet" in options and "-q" in options
    assert options["--no-progress"].dest == "progress"


@pytest.mark.parametrize("name", JSON_COMMANDS)
def test_json_where_a_result_is_printed(name):
    assert "--json" in _options(COMMANDS[name])


def test_help_says_where_the_batch_writes():
    help_text = COMMANDS["inspect"].format_help()
    assert "nii-inspect" in help_text and "SCAN.inspection" in help_text
    from nii.cli.inspect import BATCH_DEFAULT_OUT

    assert BATCH_DEFAULT_OUT == "nii-inspect"


def test_plural():
    from nii.cli._conventions import plural

    assert plural(1, "scan") == "1 scan" and plural(0, "scan") == "0 scans" and plural(2, "box", "boxes") == "2 boxes"


# ----------------------------------------------------------------------- suite names


def test_wedges_is_the_built_in_suite_even_beside_a_wedges_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wedges").mkdir()
    (tmp_path / "smoke").mkdir()
    from nii.cli.simulate import suite_path
    from nii.resources import seed_path

    assert suite_path("wedges") == seed_path("suites", "wedges.toml")
    assert suite_path("smoke") == seed_path("suites", "smoke.toml")
    assert suite_path("./smoke") == Path("./smoke") and suite_path("mine.toml") == Path("mine.toml")
    status = main(["simulate", "--wedges", "--only", "wedge-iron", "--channels", "32", "--pulses", "200",
                   "--out", str(tmp_path / "w")])
    assert status == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "simulated 1 scan of suite wedges" in out  # and "1 scan", not "1 scans"
    assert (tmp_path / "w" / "wedge-iron.nxr").is_file()


def test_an_unknown_suite_name_lists_the_built_in_ones(tmp_path, capsys):
    assert main(["simulate", "--suite", "nosuch", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no built-in suite named 'nosuch'" in err and "smoke" in err and "FILE.toml" in err


def test_o_refuses_a_folder(tmp_path, capsys):
    folder = tmp_path / "here.nxr"
    folder.mkdir()
    argv = ["simulate", "--container", "20ft", "--cargo", "03", "--channels", "16", "--pulses", "100", "-o", str(folder)]
    assert main(argv) == 2
    assert "-o names a file and this is a folder (folders are given with --out)" in capsys.readouterr().err


# ----------------------------------------------------------------------- progress


def test_suite_progress_bar_only_on_a_terminal(tmp_path, monkeypatch, tiny):
    suite = str(tiny / "tiny.toml")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["simulate", "--suite", suite, "--only", "tiny-clean", "--out", str(tmp_path / "a")]) == 0
    assert "\r" in terminal.getvalue()  # a bar, on a terminal
    for extra in (["--no-progress"], ["--quiet"]):
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert main(["simulate", "--suite", suite, "--only", "tiny-clean", "--out", str(tmp_path / extra[0]), *extra]) == 0
        assert terminal.getvalue() == ""
    log = io.StringIO()  # a log file: no carriage-return frames
    monkeypatch.setattr(sys, "stderr", log)
    assert main(["simulate", "--suite", suite, "--only", "tiny-clean", "--out", str(tmp_path / "log")]) == 0
    assert "\r" not in log.getvalue()


def test_batch_progress_bar_only_on_a_terminal(tmp_path, monkeypatch, capsys, tiny):
    scans = str(tiny / "scans")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["inspect", scans, "--out", str(tmp_path / "t"), "--workers", "1"]) in (0, 1)
    assert "\r" in terminal.getvalue() and "nii inspect" in terminal.getvalue()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["inspect", scans, "--out", str(tmp_path / "n"), "--workers", "1", "--no-progress"]) in (0, 1)
    assert "\r" not in terminal.getvalue()
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert main(["inspect", scans, "--out", str(tmp_path / "l"), "--workers", "1"]) in (0, 1)
    assert "\r" not in log.getvalue()
    out = capsys.readouterr().out
    assert "2 scans: " in out


def test_batch_default_out_is_what_the_help_says(tmp_path, monkeypatch, tiny):
    monkeypatch.chdir(tmp_path)
    assert main(["inspect", str(tiny / "scans"), "--workers", "1", "-q"]) in (0, 1)
    assert (tmp_path / "nii-inspect" / "batch_summary.json").is_file()


# ----------------------------------------------------------------------- --json and --quiet


def test_inspect_json_and_quiet(tmp_path, capsys, tiny):
    scan = tiny / "scans" / "tiny-lead.nxr"
    manifest = tiny / "scans" / "tiny-lead.manifest.json"
    status = main(["inspect", str(scan), "--manifest", str(manifest), "--out", str(tmp_path / "j"), "--json",
                   "--device", "cpu"])
    captured = capsys.readouterr()
    verdict = json.loads(captured.out)
    assert verdict == json.loads((tmp_path / "j" / "verdict.json").read_text())
    assert status == (1 if verdict["verdict"] == "inspect" else 0)
    assert "->" in captured.err  # the human line went to stderr
    main(["inspect", str(scan), "--manifest", str(manifest), "--out", str(tmp_path / "q"), "--quiet"])
    assert capsys.readouterr().out == ""


def test_batch_json_is_the_summary(tmp_path, capsys, tiny):
    status = main(["inspect", str(tiny / "scans"), "--out", str(tmp_path / "b"), "--workers", "1", "--json"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["scans"] == 2 and summary["exit_code"] == status
    assert "2 scans: " in captured.err  # the table went to stderr
    main(["inspect", str(tiny / "scans"), "--out", str(tmp_path / "b"), "--workers", "1", "-q"])
    assert capsys.readouterr().out == ""


def test_discriminate_json(tmp_path, capsys, tiny):
    scan = tiny / "scans" / "tiny-clean.nxr"
    assert main(["discriminate", str(scan), "-o", str(tmp_path / "m.npz"), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["output"] == str(tmp_path / "m.npz") and len(summary["shape"]) == 2
    assert sum(summary["class_fractions"].values()) == pytest.approx(1.0, abs=1e-6)
    assert "wrote" in captured.err
    assert main(["discriminate", str(scan), "-o", str(tmp_path / "m2.npz"), "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_calibrate_json(tmp_path, capsys):
    assert main(["simulate", "--wedges", "--only", "wedge-polyethylene", "wedge-iron", "--channels", "64",
                 "--out", str(tmp_path), "-q"]) == 0
    status = main(["calibrate", str(tmp_path / "wedge-polyethylene.nxr"), str(tmp_path / "wedge-iron.nxr"),
                   "-o", str(tmp_path / "c.json"), "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["output"] == str(tmp_path / "c.json") and summary["energies_mev"] == [6.0, 3.0]
    assert summary["curves"] and 0 < summary["fit_rms_alpha_rel"] < 0.05
    assert "wrote" in captured.err


# ----------------------------------------------------------------------- bench


def test_bench_shows_progress_and_updates_cards_on_a_tiny_suite(tmp_path, monkeypatch, tiny):
    """``nii bench --update-cards`` regenerates a zoo card's held-out figures from this run."""
    import shutil

    from nii.learn.bench import CARD_BEGIN
    from nii.learn.plugins import register_detector, unregister_detector
    from nii.resources import models_dir

    # a zoo folder whose card and config get the held-out section; the detector behind the
    # name is a registered stand-in (the real models refuse 32-channel scans)
    zoo = tmp_path / "zoo"
    (zoo / "stand_in").mkdir(parents=True)
    shutil.copy(models_dir() / "fcos_detector" / "MODEL_CARD.md", zoo / "stand_in" / "MODEL_CARD.md")
    (zoo / "stand_in" / "config.json").write_text(json.dumps({"name": "stand_in", "kind": "box_detector"}))
    monkeypatch.setenv("NII_MODELS", str(zoo))
    register_detector("stand_in", lambda image, material_map: {"score": float(image.attenuation_high.max() > 5)})
    try:
        shutil.copytree(tiny / "scans", tmp_path / "out" / "scans")
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        stdout = io.StringIO()
        monkeypatch.setattr(sys, "stdout", stdout)
        status = main(["bench", "--suite", str(tiny / "tiny.toml"), "--out", str(tmp_path / "out"),
                       "--models", "stand_in", "--update-cards"])
    finally:
        unregister_detector("stand_in")
    assert status == 0
    assert "bench physics" in terminal.getvalue() and "bench stand_in" in terminal.getvalue()  # bars per detector
    report = json.loads((tmp_path / "out" / "bench.json").read_text())
    card = (zoo / "stand_in" / "MODEL_CARD.md").read_text()
    assert card.count(CARD_BEGIN) == 1 and "On suite `tiny` (2 scans" in card
    config = json.loads((zoo / "stand_in" / "config.json").read_text())
    assert config["held_out"]["scans"] == 2 == report["scans"]
    assert "updated" in stdout.getvalue()


def test_bench_is_not_silent_while_it_simulates(tmp_path, capsys, tiny):
    status = main(["bench", "--suite", str(tiny / "tiny.toml"), "--out", str(tmp_path), "--models", "--no-physics"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("bench: simulating suite tiny (2 scans)")
    assert any(line.startswith("bench: correcting") for line in lines)
    assert "\r" not in out
