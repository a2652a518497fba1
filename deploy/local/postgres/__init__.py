"""The local stack's PostgreSQL cluster, under FerretDB: initialised once under `var/postgres`.

Debian's PostgreSQL server binaries (`make install` installs them) run with the development
settings of `vestnik.conf`, on their own port, TCP only. PostgreSQL refuses to run as root; when
we are root it runs in a user namespace of its own where we appear as the `postgres` user, so
its data directory can stay inside `var/` whatever the rights of the directories above it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPERUSER = "vestnik"
FERRETDB_DATABASE = "ferretdb"


def bin_dir() -> Path:
    """The newest installed server's binaries (override with `VESTNIK_POSTGRES_BIN`)."""
    if configured := os.environ.get("VESTNIK_POSTGRES_BIN"):
        return Path(configured)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not found:
        raise RuntimeError("PostgreSQL server not found: run `make install` (Debian: postgresql)")
    return found[-1].parent


def unprivileged(argv: list[str]) -> list[str]:
    """`argv` as an ordinary user: unchanged unless we are root."""
    if os.geteuid() != 0:
        return argv
    try:
        uid, gid = pwd.getpwnam("postgres")[2:4]
    except KeyError:
        uid = gid = 65534  # nobody
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, "--user", f"--map-user={uid}", f"--map-group={gid}", *argv]


def prepare(data_dir: Path) -> None:
    """initdb on first start; the development settings (re)applied on every start."""
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        initdb = [
            str(bin_dir() / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
        result = subprocess.run(unprivileged(initdb), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
    shutil.copyfile(HERE / "vestnik.conf", data_dir / "vestnik.conf")
    main_conf = data_dir / "postgresql.conf"
    include = "include_if_exists = 'vestnik.conf'\n"
    if include not in main_conf.read_text():
        with main_conf.open("a") as conf:
            conf.write("\n# The local stack's settings (deploy/local/postgres/vestnik.conf)\n")
            conf.write(include)


def server_argv(data_dir: Path, port: int) -> list[str]:
    return unprivileged([str(bin_dir() / "postgres"), "-D", str(data_dir), "-p", str(port)])


def answers(port: int) -> bool:
    """A real answer from the server (not only an open port)."""
    return _psql(port, "postgres", "-c", "SELECT 1").returncode == 0


def prepare_ferretdb_database(port: int) -> None:
    """The database FerretDB keeps its schemas in, and the GIN twins of its indexes
    (`ferretdb-gin-twins.sql`); idempotent."""
    found = _psql(
        port, "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{FERRETDB_DATABASE}'"
    )
    if found.returncode != 0:
        raise RuntimeError(f"PostgreSQL did not answer: {found.stderr}")
    if found.stdout.strip() != "1":
        _check(_psql(port, "postgres", "-c", f"CREATE DATABASE {FERRETDB_DATABASE}"))
    _check(_psql(port, FERRETDB_DATABASE, "-f", str(HERE / "ferretdb-gin-twins.sql")))


def ferretdb_url(port: int) -> str:
    # FerretDB holds a connection per statement of a bulk write (services/shared/mongo.py):
    # a pool well above its default of 50, within the cluster's max_connections (vestnik.conf).
    return f"postgres://{SUPERUSER}@127.0.0.1:{port}/{FERRETDB_DATABASE}?pool_max_conns=200"


def _psql(port: int, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql") or str(bin_dir() / "psql")
    argv = [
        psql,
        "-X",
        "-q",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        SUPERUSER,
        "-d",
        database,
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr}")
