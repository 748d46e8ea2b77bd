"""The live Label Studio loop: server start/stop, project set-up, pulling the export (issue 15, item 2).

The fast tests need no Label Studio: the server is a stand-in executable that
answers ``/health``. The slow test runs the real server from .venv-label-studio
(``make label-studio`` builds it) and skips without it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT
from negotiation_stance.corpus.candidates import from_label_studio, to_label_studio
from negotiation_stance.corpus.label_studio import (
    PID_FILE,
    SERVER_VENV,
    LabelStudioError,
    ServerSettings,
    check_label_config,
    label_config_path,
    load_credentials,
    read_tasks,
    server_command,
    server_env,
    start_server,
    stop_server,
)
from negotiation_stance.io import DataError

BUNDLED_CONFIG = ROOT / "data" / "label_studio_config.xml"
spec = importlib.util.spec_from_file_location("label_studio_script", ROOT / "scripts" / "label_studio.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

# A stand-in for `label-studio start`: answers /health on the --port it is given, or fails as told.
FAKE_SERVER = """\
#!{python}
import http.server, os, sys
if os.environ.get("FAKE_FAIL"):
    print("django.db.utils.OperationalError: unable to open database file", flush=True)
    sys.exit(3)
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fixture_tasks(n: int = 4) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (FIXTURES / "statements_tiny.jsonl").read_text().splitlines()][:n]
    predictions = [{"label": "pro_negotiation", "score": 0.5 + i / 10} for i in range(n)]
    return rows, to_label_studio(rows, predictions)


@pytest.fixture
def fake_server(tmp_path) -> ServerSettings:
    executable = tmp_path / SERVER_VENV / "bin" / "label-studio"
    executable.parent.mkdir(parents=True)
    executable.write_text(FAKE_SERVER.format(python=sys.executable))
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    settings = ServerSettings(tmp_path / "logs" / "label-studio", executable, port=free_port())
    yield settings
    stop_server(settings.data_dir, timeout=5)


def test_server_command_binds_localhost_and_keeps_the_login_off_the_command_line(tmp_path):
    settings = ServerSettings(tmp_path / "ls", Path("/venv/bin/label-studio"), port=8123)
    credentials = load_credentials(settings.data_dir)
    command = server_command(settings)
    assert command[:2] == ["/venv/bin/label-studio", "start"]
    assert command[command.index("--internal-host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8123"
    assert command[command.index("--data-dir") + 1] == str(tmp_path / "ls")
    assert credentials.password not in " ".join(command) and credentials.token not in " ".join(command)
    env = server_env(settings, credentials, {"PATH": "/bin"})
    assert env["PATH"] == "/bin" and env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path / "ls")
    assert (env["LABEL_STUDIO_USERNAME"], env["LABEL_STUDIO_PASSWORD"], env["LABEL_STUDIO_USER_TOKEN"]) == (
        credentials.username, credentials.password, credentials.token,
    )  # fmt: skip
    assert env["LABEL_STUDIO_LATEST_VERSION_CHECK"] == "false"
    # Made once, private, and the same on the next start (the server's database holds that user).
    path = settings.data_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(credentials.token) == 40
    assert load_credentials(settings.data_dir) == credentials


def test_make_targets_run_the_script(tmp_path):
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "label-studio", "LS_PORT=8123",
         "TASKS=out/tasks.json"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "python3 -m venv .venv-label-studio" in dry
    assert '.venv-label-studio/bin/python -m pip install -q "label-studio==1.23.2"' in dry
    assert (
        dry.strip().splitlines()[-1]
        == ".venv/bin/python scripts/label_studio.py start --port 8123 --tasks out/tasks.json"
    )
    # Installed once: the same version is not installed again, another one is.
    (tmp_path / ".venv-label-studio").mkdir()
    (tmp_path / ".venv-label-studio" / ".installed-1.23.2").touch()
    for version, installs in (("1.23.2", False), ("1.24.0", True)):
        again = subprocess.run(
            ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "label-studio", f"LS_VERSION={version}"],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert (f'pip install -q "label-studio=={version}"' in again) is installs, (version, again)
    stop = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "label-studio-stop"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    assert stop.strip() == ".venv/bin/python scripts/label_studio.py stop"


def test_start_and_stop_a_server_by_its_pid_file(fake_server, capsys):
    settings = fake_server
    argv = ["--data-dir", str(settings.data_dir)]
    venv = ["--server-venv", str(settings.executable.parents[1]), "--port", str(settings.port)]
    assert script.main(["start", *argv, *venv]) == 0
    out = capsys.readouterr().out
    pid = int((settings.data_dir / PID_FILE).read_text())
    assert f"Label Studio runs at http://127.0.0.1:{settings.port} (PID {pid}" in out
    assert start_server(settings, load_credentials(settings.data_dir)) == pid  # a second start reuses it
    assert script.main(["stop", *argv]) == 0
    assert capsys.readouterr().out == f"stopped Label Studio (PID {pid})\n"
    assert not (settings.data_dir / PID_FILE).exists() and not Path(f"/proc/{pid}").exists()
    assert script.main(["stop", *argv]) == 0
    assert capsys.readouterr().out == f"no Label Studio runs from {settings.data_dir}\n"


def test_a_stale_pid_file_never_stops_another_process(fake_server):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        fake_server.data_dir.mkdir(parents=True)
        (fake_server.data_dir / PID_FILE).write_text(f"{other.pid}\n")
        assert stop_server(fake_server.data_dir) is None
        assert other.poll() is None and not (fake_server.data_dir / PID_FILE).exists()
    finally:
        other.kill()
        other.wait()


def test_start_errors_are_one_line(fake_server, tmp_path, capsys, monkeypatch):
    settings = fake_server
    argv = ["start", "--data-dir", str(settings.data_dir), "--port", str(settings.port)]
    assert script.main([*argv, "--server-venv", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == (
        f"error: no Label Studio server at {tmp_path / 'none' / 'bin' / 'label-studio'}; "
        "`make label-studio` builds .venv-label-studio first\n"
    )
    monkeypatch.setenv("FAKE_FAIL", "1")
    assert script.main([*argv, "--server-venv", str(settings.executable.parents[1])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Label Studio exited with status 3 before answering; its log ") and err.endswith(
        "ends: django.db.utils.OperationalError: unable to open database file\n"
    )
    assert not (settings.data_dir / PID_FILE).exists()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LabelStudioError, match=f"something already listens on 127.0.0.1:{port}"):
            start_server(
                ServerSettings(settings.data_dir, settings.executable, port=port), load_credentials(settings.data_dir)
            )


def test_a_failed_project_import_says_how_to_stop_the_running_server(fake_server, tmp_path, capsys, monkeypatch):
    settings = fake_server
    _, tasks = fixture_tasks()
    tasks_file = tmp_path / "suggest" / "tasks.json"
    tasks_file.parent.mkdir()
    tasks_file.write_text(json.dumps(tasks))

    def refused(url, token, **kwargs):
        raise LabelStudioError(f"Label Studio at {url} answered 400: bad config")

    monkeypatch.setattr(script, "create_project", refused)
    argv = ["start", "--data-dir", str(settings.data_dir), "--port", str(settings.port), "--tasks", str(tasks_file)]
    assert script.main([*argv, "--server-venv", str(settings.executable.parents[1])]) == 2
    pid_file = settings.data_dir / PID_FILE
    assert capsys.readouterr().err == (
        f"error: Label Studio at {settings.url} answered 400: bad config; Label Studio still runs at {settings.url}, "
        f"stop it: make label-studio-stop (or: kill $(cat {pid_file}))\n"
    )
    assert pid_file.is_file()  # the server is still up, as the hint says


def test_pull_from_an_unreachable_server_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)  # the no-token case below needs none set
    out = tmp_path / "export.json"
    url = f"http://127.0.0.1:{free_port()}"
    argv = ["pull", "--from-server", url, "--project", "3", "--out", str(out), "--data-dir", str(tmp_path / "ls")]
    assert script.main([*argv, "--token", "abc"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"error: cannot reach Label Studio at {url} \(.*refused\); start it with `make label-studio`, "
        r"or give the URL it prints\n",
        err,
    ), err
    assert script.main(argv) == 2  # no token anywhere: says where one comes from
    assert "no API token: " in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "ls").exists()


def test_label_config_is_checked_against_what_the_import_reads(tmp_path):
    _, tasks = fixture_tasks()
    tasks_file = tmp_path / "suggest" / "tasks.json"
    tasks_file.parent.mkdir()
    tasks_file.write_text(json.dumps(tasks))
    assert read_tasks(tasks_file) == tasks
    assert label_config_path(tasks_file, None, BUNDLED_CONFIG) == BUNDLED_CONFIG
    assert '<Choice value="conditional"/>' in check_label_config(BUNDLED_CONFIG, tasks)
    # suggest's config beside its tasks wins over the bundled one; --config over both
    beside = tasks_file.parent / "label_config.xml"
    beside.write_text(BUNDLED_CONFIG.read_text().replace('<Choice value="pro_negotiation"/>', ""))
    assert label_config_path(tasks_file, None, BUNDLED_CONFIG) == beside
    assert label_config_path(tasks_file, BUNDLED_CONFIG, BUNDLED_CONFIG) == BUNDLED_CONFIG
    with pytest.raises(
        DataError, match=r"field 'label': does not offer \['pro_negotiation'\], which task #1 \(fx-1-s000\)"
    ):
        check_label_config(beside, tasks)
    cases = {
        "neutral": ('value="none"', 'value="neutral"', r"field 'label': offers \['neutral'\], which are not labels"),
        "renamed": (
            'name="label"',
            'name="stance"',
            r"field 'Choices': needs <Choices name=\"label\" toName=\"text\">",
        ),
        "value": ('value="$text"', 'value="$sentence"', r"field 'Text': needs <Text name=\"text\" value=\"\$text\"/>"),
        "broken": ("</View>", "", r"config.xml, line \d+: malformed XML"),
    }
    for old, new, message in cases.values():
        bad = tmp_path / "config.xml"
        bad.write_text(BUNDLED_CONFIG.read_text().replace(old, new))
        with pytest.raises(DataError, match=message):
            check_label_config(bad)
    tasks_file.write_text(json.dumps([{"data": {"text": "No id."}}]))
    with pytest.raises(DataError, match=r"field 'data': task #1 lacks data.sid"):
        read_tasks(tasks_file)


def _label_studio_executable() -> Path:
    return ROOT / SERVER_VENV / "bin" / "label-studio"


@pytest.mark.slow
@pytest.mark.skipif(not _label_studio_executable().is_file(), reason=f"no {SERVER_VENV}: run `make label-studio` once")
def test_round_trip_through_a_real_label_studio(tmp_path, capsys):
    """Start the real server, make a project of tasks, annotate as annotators would, pull, import, stop."""
    pytest.importorskip("label_studio_sdk", reason="the label-studio extra: pip install -e '.[label-studio]'")
    from negotiation_stance.corpus.label_studio import connect

    rows, tasks = fixture_tasks(4)
    tasks_file = tmp_path / "tasks.json"
    tasks_file.write_text(json.dumps(tasks))
    data_dir, port = tmp_path / "logs" / "label-studio", free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        assert script.main(["start", "--tasks", str(tasks_file), "--port", str(port), "--data-dir", str(data_dir)]) == 0
        with capsys.disabled():
            print(f"\nserver up and project made in {time.monotonic() - started:.1f} s")
        out = capsys.readouterr().out
        project = int(re.search(r"^project (\d+) ", out, flags=re.M).group(1))
        assert f"4 tasks -> {url}/projects/{project}/" in out
        pid = int((data_dir / PID_FILE).read_text())

        client = connect(url, load_credentials(data_dir).token)
        by_sid = {task.data["sid"]: task for task in client.tasks.list(project=project)}
        assert sorted(by_sid) == sorted(row["id"] for row in rows)
        assert all(task.total_predictions == 1 for task in by_sid.values())  # the pre-annotations came along
        chosen = {  # row 0 annotated twice (the later one wins), row 2 skipped (cancelled), row 3 left alone
            rows[0]["id"]: [("skeptical", None, None), ("conditional", "the minister", "sequenced_condition")],
            rows[1]["id"]: [("skeptical", "a rebel commander", None)],
            rows[2]["id"]: [("pro_negotiation", None, None)],
        }
        for sid, annotations in chosen.items():
            for label, speaker, hard in annotations:
                result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
                if speaker:
                    result.append(
                        {"from_name": "speaker", "to_name": "text", "type": "textarea", "value": {"text": [speaker]}}
                    )
                if hard:
                    result.append(
                        {"from_name": "hard_case", "to_name": "text", "type": "choices", "value": {"choices": [hard]}}
                    )
                client.annotations.create(by_sid[sid].id, result=result, was_cancelled=sid == rows[2]["id"])
                time.sleep(0.01)  # distinct updated_at

        export_file = tmp_path / "pulled" / "export.json"
        argv = ["--from-server", url, "--project", str(project), "--data-dir", str(data_dir), "--out", str(export_file)]
        assert script.main(["pull", *argv]) == 0
        assert capsys.readouterr().out == f"4 tasks, 2 labelled -> {export_file}\n"
        labels, unlabelled = from_label_studio(json.loads(export_file.read_text()), export_file)
        got = {r["id"]: (r["text"], r["label"], r["speaker"], r["hard_case"]) for r in labels}
        assert got == {
            rows[0]["id"]: (rows[0]["text"], "conditional", "the minister", "sequenced_condition"),
            rows[1]["id"]: (rows[1]["text"], "skeptical", "a rebel commander", None),
        }
        assert sorted(unlabelled) == sorted([rows[2]["id"], rows[3]["id"]])
        assert all(r["annotator"].startswith("label-studio:") for r in labels)

        assert script.main(["pull", *argv, "--token", "0" * 40]) == 2
        assert "refused the token (401)" in capsys.readouterr().err
        assert script.main(["pull", *argv[:2], "--project", str(project + 99), *argv[4:]]) == 2
        assert capsys.readouterr().err == f"error: Label Studio at {url} has no project {project + 99}\n"

        assert script.main(["stop", "--data-dir", str(data_dir)]) == 0
        assert not Path(f"/proc/{pid}").exists() and not (data_dir / PID_FILE).exists()
        assert (data_dir / "label_studio.sqlite3").is_file()  # everything under the working folder
    finally:
        stop_server(data_dir)
