"""A local Label Studio server for the labelling loop: start it, give it a project and tasks, pull the labels back.

The server pins Django and much else that would fight the project's own
packages, so it runs from its own virtualenv (``make label-studio`` builds
``.venv-label-studio``) as a separate process, and this side speaks to it only
over HTTP through ``label-studio-sdk`` (the ``label-studio`` extra). Tasks go
in and exports come out in the JSON shape of ``to_label_studio`` and
``from_label_studio``, so a pulled export reads exactly like one saved from
the UI's Export > JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from negotiation_stance.corpus.candidates import LS_LABEL, LS_TEXT, from_label_studio
from negotiation_stance.errors import UserError
from negotiation_stance.io import DataError, atomic_write, read_text, write_text
from negotiation_stance.labels import CONTRACT_LABELS

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # Label Studio's own default; `serve` uses 8000
DEFAULT_USERNAME = "annotator@localhost"
SERVER_VENV = ".venv-label-studio"
PID_FILE, LOG_FILE, CREDENTIALS_FILE = "server.pid", "server.log", "credentials.json"
# The labelling config `suggest` writes beside its tasks.json; without one, the bundled config is used.
SUGGESTED_CONFIG = "label_config.xml"
_IMPORT_BATCH = 500


class LabelStudioError(UserError):
    """The server cannot be started or reached, or refused a request; the message says which and what to do."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    executable: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_credentials(data_dir: Path, *, create: bool = True) -> Credentials:
    """The data folder's login, made on first use and kept (mode 600): its database holds the user made with it."""
    path = Path(data_dir) / CREDENTIALS_FILE
    if path.is_file():
        try:
            return Credentials(**json.loads(read_text(path)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(path, None, None, f"is not a credentials file ({exc}); delete the data folder") from exc
    if not create:
        raise LabelStudioError(
            f"no API token: {path} does not exist (`make label-studio` writes it); "
            "pass --token or set LABEL_STUDIO_API_KEY"
        )
    credentials = Credentials(DEFAULT_USERNAME, secrets.token_urlsafe(12), secrets.token_hex(20))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(asdict(credentials), indent=2) + "\n", encoding="utf-8")
    return credentials


def resolve_token(token: str | None, data_dir: Path) -> str:
    """The API token: the one given, else ``LABEL_STUDIO_API_KEY``, else the one ``make label-studio`` made."""
    return token or os.environ.get("LABEL_STUDIO_API_KEY") or load_credentials(data_dir, create=False).token


def server_command(settings: ServerSettings) -> list[str]:
    """``label-studio start`` bound to ``settings.host`` only, with its data under ``settings.data_dir``."""
    return [
        str(settings.executable), "start", "--no-browser", "--internal-host", settings.host,
        "--port", str(settings.port), "--data-dir", str(settings.data_dir),
        # Label Studio 1.23 issues JWT personal tokens by default; the token we set is a legacy one.
        "--enable-legacy-api-token",
    ]  # fmt: skip


def server_env(settings: ServerSettings, credentials: Credentials, base: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: the login (kept off the command line, where ``ps`` shows it) and no phoning home."""
    return {
        **base,
        "LABEL_STUDIO_BASE_DATA_DIR": str(settings.data_dir),
        "LABEL_STUDIO_USERNAME": credentials.username,
        "LABEL_STUDIO_PASSWORD": credentials.password,
        "LABEL_STUDIO_USER_TOKEN": credentials.token,
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    }


def health_problem(url: str, timeout: float = 2.0) -> str | None:
    """Why ``url`` is not a Label Studio that answers ``/health``; None if it is."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return None if response.status == 200 else f"/health answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"/health answered {exc.code}"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except OSError as exc:
        return str(exc) or type(exc).__name__


def answers(url: str) -> bool:
    return health_problem(url) is None


def require_server(url: str) -> None:
    """Fail in one line, before the SDK is even imported, when nothing answers at ``url``."""
    problem = health_problem(url)
    if problem is not None:
        raise LabelStudioError(
            f"cannot reach Label Studio at {url} ({problem}); start it with `make label-studio`, "
            "or give the URL it prints"
        )


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def running_pid(data_dir: Path) -> int | None:
    """The PID in the data folder's PID file if that process still runs; a stale file is removed."""
    path = Path(data_dir) / PID_FILE
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _alive(pid) and _is_label_studio(pid):
        return pid
    path.unlink(missing_ok=True)  # the server died, and its PID may belong to another process by now
    return None


def _is_label_studio(pid: int) -> bool:
    try:
        return b"label-studio" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc").is_dir()  # no /proc (macOS): trust the PID file
    except PermissionError:
        return True


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that has exited: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_server(settings: ServerSettings, credentials: Credentials, *, timeout: float = 300.0) -> int:
    """Start the server in the background (its own session: it outlives the command) and wait until it answers.

    Returns its PID, also written to ``<data_dir>/server.pid``. A server already
    running from the same data folder is reused.
    """
    pid = running_pid(settings.data_dir)
    if pid is not None:
        if answers(settings.url):
            return pid
        raise LabelStudioError(
            f"a Label Studio (PID {pid}) runs from {settings.data_dir} but does not answer at {settings.url}; "
            "stop it with `make label-studio-stop` (it may use another port)"
        )
    if not settings.executable.is_file():
        raise LabelStudioError(
            f"no Label Studio server at {settings.executable}; `make label-studio` builds {SERVER_VENV} first"
        )
    if _port_taken(settings.host, settings.port):
        raise LabelStudioError(
            f"something already listens on {settings.host}:{settings.port}; choose another port (LS_PORT=8081)"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / LOG_FILE
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            server_command(settings),
            env=server_env(settings, credentials, os.environ),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    write_text(settings.data_dir / PID_FILE, f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (settings.data_dir / PID_FILE).unlink(missing_ok=True)
            raise LabelStudioError(
                f"Label Studio exited with status {process.returncode} before answering; "
                f"its log {log_path} ends: {_last_line(log_path)}"
            )
        if answers(settings.url):
            return process.pid
        time.sleep(0.25)
    stop_server(settings.data_dir)
    raise LabelStudioError(f"Label Studio did not answer at {settings.url} within {timeout:.0f} s; see {log_path}")


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(empty)"


def stop_server(data_dir: Path, *, timeout: float = 30.0) -> int | None:
    """Stop the server named by the data folder's PID file (SIGTERM, then SIGKILL); its PID, or None if none ran."""
    pid = running_pid(data_dir)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # its own session: the group is the server and anything it started
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    (Path(data_dir) / PID_FILE).unlink(missing_ok=True)
    return pid


def read_tasks(path: Path) -> list[dict[str, Any]]:
    """Tasks JSON as ``to_label_studio`` (or ``suggest``) writes it, each checked for ``data.sid`` and ``data.text``."""
    try:
        tasks = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None, f"malformed JSON ({exc.msg})") from exc
    from_label_studio(tasks, path)  # the same checks an export gets: a list of tasks with data.sid and data.text
    if not tasks:
        raise DataError(path, None, None, "holds no tasks")
    return tasks


def label_config_path(tasks_path: Path | None, config: Path | None, bundled: Path) -> Path:
    """The labelling config to use: the one given, else ``label_config.xml`` beside the tasks, else the bundled one."""
    if config is not None:
        return config
    if tasks_path is not None and (tasks_path.parent / SUGGESTED_CONFIG).is_file():
        return tasks_path.parent / SUGGESTED_CONFIG
    return bundled


def check_label_config(path: Path, tasks: Sequence[dict[str, Any]] = ()) -> str:
    """The config's XML, if the import can read back what it collects and it offers every pre-annotated label."""
    xml = read_text(path)
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise DataError(path, exc.position[0], None, f"malformed XML ({exc})") from exc
    texts = [el for el in root.iter("Text") if el.get("name") == LS_TEXT]
    if not texts or texts[0].get("value") != f"${LS_TEXT}":
        raise DataError(path, None, "Text", f'needs <Text name="{LS_TEXT}" value="${LS_TEXT}"/>: tasks carry data.text')
    label = [el for el in root.iter("Choices") if el.get("name") == LS_LABEL and el.get("toName") == LS_TEXT]
    if not label:
        raise DataError(
            path, None, "Choices", f'needs <Choices name="{LS_LABEL}" toName="{LS_TEXT}">: the import reads it'
        )
    offered = [choice.get("value") for choice in label[0].iter("Choice")]
    unknown = [value for value in offered if value not in CONTRACT_LABELS]
    if unknown:
        raise DataError(path, None, LS_LABEL, f"offers {unknown}, which are not labels of {list(CONTRACT_LABELS)}")
    for n, task in enumerate(tasks, start=1):
        for prediction in task.get("predictions") or []:
            for item in prediction.get("result") or []:
                if item.get("from_name") != LS_LABEL:
                    continue
                missing = [c for c in item.get("value", {}).get("choices", []) if c not in offered]
                if missing:
                    raise DataError(
                        path, None, LS_LABEL,
                        f"does not offer {missing}, which task #{n} ({task['data']['sid']}) is pre-annotated with",
                    )  # fmt: skip
    return xml


def connect(url: str, token: str) -> LabelStudio:
    """An SDK client; nothing is sent until the first request."""
    try:
        from label_studio_sdk import LabelStudio
    except ImportError as exc:
        raise LabelStudioError("label-studio-sdk is not installed: pip install -e '.[label-studio]'") from exc
    return LabelStudio(base_url=url, api_key=token)


@contextlib.contextmanager
def talking_to(url: str) -> Iterator[None]:
    """Turn the SDK's connection and API errors into one line that names the server and what to do."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except httpx.TransportError as exc:
        raise LabelStudioError(
            f"lost Label Studio at {url} ({exc or type(exc).__name__}); is it still running?"
        ) from exc
    except ApiError as exc:
        if exc.status_code in (401, 403):
            hint = f"use the token in <data folder>/{CREDENTIALS_FILE} or the one on the account page"
            raise LabelStudioError(f"Label Studio at {url} refused the token ({exc.status_code}); {hint}") from exc
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("validation_errors") or body.get("detail") or exc.body
        raise LabelStudioError(f"Label Studio at {url} answered {exc.status_code}: {detail}") from exc


def create_project(url: str, token: str, *, title: str, label_config: str, tasks: Sequence[dict[str, Any]]) -> int:
    """A new project with the labelling config, holding the tasks and their pre-annotations; its id."""
    require_server(url)
    client = connect(url, token)
    with talking_to(url):
        project = client.projects.create(title=title, label_config=label_config)
        for start in range(0, len(tasks), _IMPORT_BATCH):
            client.projects.import_tasks(project.id, request=list(tasks[start : start + _IMPORT_BATCH]))
    return project.id


def pull_export(url: str, token: str, project_id: int) -> list[dict[str, Any]]:
    """The project's JSON export, every task with its annotations, as the UI's Export > JSON saves it."""
    require_server(url)
    client = connect(url, token)
    from label_studio_sdk.core.api_error import ApiError  # after connect(), which says how to install the SDK

    with talking_to(url):
        try:
            client.projects.get(id=project_id)
        except ApiError as exc:
            if exc.status_code == 404:
                raise LabelStudioError(f"Label Studio at {url} has no project {project_id}") from exc
            raise
        export = client.projects.exports.as_json(project_id)
    if not isinstance(export, list):
        raise LabelStudioError(f"Label Studio at {url} returned a {type(export).__name__}, not a list of tasks")
    return export
