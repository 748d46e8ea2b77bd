"""A local Label Studio for labelling suggested sentences: start it with a project, pull the labels, stop it.

  # start the server on 127.0.0.1:8080 (data under logs/label-studio) and a project holding the tasks
  python scripts/label_studio.py start --tasks suggestions/tasks.json [--config label_config.xml] [--port 8080]
  # ... label in the browser, then pull the project's export (the same JSON as the UI's Export > JSON)
  python scripts/label_studio.py pull --from-server http://127.0.0.1:8080 --project 1 --out export.json
  python scripts/label_studio.py stop

The server runs from its own virtualenv (.venv-label-studio, built by `make label-studio`).
The labelling config is --config, else label_config.xml beside the tasks (as `suggest` writes
it), else data/label_studio_config.xml. The login is made on first start and kept in
<data-dir>/credentials.json; `pull` reads its token from there unless --token or
LABEL_STUDIO_API_KEY gives one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.corpus.label_studio import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LOG_FILE,
    PID_FILE,
    SERVER_VENV,
    LabelStudioError,
    ServerSettings,
    check_label_config,
    create_project,
    label_config_path,
    load_credentials,
    pull_export,
    read_tasks,
    resolve_token,
    start_server,
    stop_server,
)
from negotiation_stance.errors import USER_ERROR_EXIT, UserError
from negotiation_stance.io import write_text

CHECKOUT = find_checkout(__file__)
BUNDLED_CONFIG = CHECKOUT / "data" / "label_studio_config.xml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, default=Path("logs/label-studio"),
        help="the server's database, media, log, PID file and login (default: logs/label-studio here)",
    )  # fmt: skip
    start = sub.add_parser("start", parents=[common], help="start the server; with --tasks, a project holding them")
    start.add_argument("--tasks", type=Path, help="Label Studio tasks JSON (suggest or to-label-studio writes it)")
    start.add_argument("--config", type=Path, help="labelling config XML (default: see above)")
    start.add_argument("--title", help="project title (default: the tasks file's folder and name)")
    start.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s only)")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--server-venv", type=Path, default=CHECKOUT / SERVER_VENV, help="the server's virtualenv")
    start.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the server to answer")
    pull = sub.add_parser("pull", parents=[common], help="a project's JSON export from a running server")
    pull.add_argument("--from-server", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}", metavar="URL")
    pull.add_argument("--project", type=int, required=True, metavar="ID")
    pull.add_argument("--token", help="API token (default: LABEL_STUDIO_API_KEY, else <data-dir>/credentials.json)")
    pull.add_argument("--out", type=Path, required=True, help="where to write the export JSON")
    sub.add_parser("stop", parents=[common], help="stop the server started from --data-dir (its PID file)")
    return parser.parse_args(argv)


def start(args: argparse.Namespace) -> None:
    tasks, config = None, None
    if args.tasks is not None:
        tasks = read_tasks(args.tasks)
        config = check_label_config(label_config_path(args.tasks, args.config, BUNDLED_CONFIG), tasks)
    data_dir = args.data_dir.resolve()
    settings = ServerSettings(data_dir, args.server_venv / "bin" / "label-studio", args.host, args.port)
    credentials = load_credentials(data_dir)
    pid = start_server(settings, credentials, timeout=args.timeout)
    stop_hint = f"stop it: make label-studio-stop (or: kill $(cat {data_dir / PID_FILE}))"
    print(f"Label Studio runs at {settings.url} (PID {pid} in {data_dir / PID_FILE}, log {data_dir / LOG_FILE})")
    print(f"log in as {credentials.username}; the password is in {data_dir / 'credentials.json'}")
    if tasks is not None:
        title = args.title or f"{args.tasks.resolve().parent.name}/{args.tasks.name}"
        try:
            project = create_project(settings.url, credentials.token, title=title, label_config=config, tasks=tasks)
        except (UserError, OSError) as exc:  # the server keeps running: say how to stop it
            raise LabelStudioError(f"{exc}; Label Studio still runs at {settings.url}, {stop_hint}") from exc
        print(f"project {project} ({title!r}): {len(tasks)} tasks -> {settings.url}/projects/{project}/")
        print(
            f"labels back: python scripts/label_studio.py pull --from-server {settings.url} --project {project} "
            "--out export.json"
        )
    print(stop_hint)


def pull(args: argparse.Namespace) -> None:
    token = resolve_token(args.token, args.data_dir)
    export = pull_export(args.from_server.rstrip("/"), token, args.project)
    write_text(args.out, json.dumps(export, ensure_ascii=False, indent=1) + "\n")
    labelled = sum(any(not a.get("was_cancelled") for a in task.get("annotations", [])) for task in export)
    print(f"{len(export)} tasks, {labelled} labelled -> {args.out}")


def stop(args: argparse.Namespace) -> None:
    pid = stop_server(args.data_dir)
    print(f"no Label Studio runs from {args.data_dir}" if pid is None else f"stopped Label Studio (PID {pid})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        {"start": start, "pull": pull, "stop": stop}[args.command](args)
    except (UserError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR_EXIT
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
