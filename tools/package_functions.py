"""Build what Terraform uploads (`make package`): one source zip per Cloud Function and the Spark files.

  build/functions/<name>.zip     functions/<name>/main.py, the core package as a source archive
                                 (gharchive_pipeline-<version>.tar.gz: pyproject.toml with the
                                 function's share of the dependencies, setup.py, src/) and a generated
                                 requirements.txt: that archive and locks/<name>.txt, every line with
                                 pip's hashes. The Cloud Functions build installs exactly those files
                                 (pip's hash-checking mode), compiling the native normalizer from the
                                 archive, instead of resolving versions on deploy day
  build/spark/gharchive_pipeline.zip   the core package, for Dataproc's --py-files, with the
                                 pure-Python dependencies the job needs beyond the Dataproc image
                                 ([tool.gharchive.spark] bundle), copied from this environment only if
                                 it holds the versions locks/spark.txt pins, file by file as installed
  build/spark/load_events.py     the PySpark entry point

Zips and the source archive are deterministic (sorted entries, fixed timestamps and modes), so an
unchanged source gives a byte-identical archive, the same MD5 in the object name, and no redeploy on
`terraform apply`. A changed package changes the archive's hash, hence requirements.txt: the Python
buildpack caches installed dependencies by the requirements files' content and the Python version
(GoogleCloudPlatform/buildpacks pkg/python/python.go: checkCache, cache.WithFiles(reqs...)), so a
`./pkg` line that never changed reused the old install of the package after a redeploy.
Requirements are generated, never kept by hand: [tool.gharchive.functions] in pyproject.toml names
which of [project.dependencies] each function needs; tools/lock_dependencies.py pins them.

Usage: python tools/package_functions.py [--out build]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import importlib.metadata as md
import io
import shutil
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gharchive_pipeline.entrypoints import FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
CORE_PACKAGE = "gharchive_pipeline"
SPARK_SCRIPT = "load_events.py"
#: The earliest time a zip can hold; used for every entry so builds are reproducible.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo", ".so"}
#: The source archive's entries' time (1980-01-02: wheels built from it need zip-able times).
ARCHIVE_MTIME = 315619200
LOCKS = "locks"


@dataclass(frozen=True)
class Artifact:
    path: Path
    entries: int
    size: int


def source_files(root: Path) -> Iterator[Path]:
    """Files under root worth shipping (no caches or bytecode), sorted."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not _SKIP_DIRS.intersection(rel.parts) and path.suffix not in _SKIP_SUFFIXES:
            yield path


def write_zip(dest: Path, members: Iterable[tuple[str, bytes]]) -> Artifact:
    """A reproducible zip of (archive name, content) pairs, sorted by name; names must be unique."""
    items = sorted(members)
    names = [name for name, _ in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{dest}: duplicate archive entries {dupes}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in items:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, so the mode above is honoured everywhere
            zf.writestr(info, data, compresslevel=9)
    tmp.replace(dest)
    return Artifact(dest, len(items), dest.stat().st_size)


def core_members(src: Path, prefix: str = CORE_PACKAGE) -> list[tuple[str, bytes]]:
    """The core package as archive entries rooted at `prefix/` (default: `gharchive_pipeline/`)."""
    pkg = src / CORE_PACKAGE
    if not (pkg / "__init__.py").is_file():
        raise FileNotFoundError(f"core package not found at {pkg}")
    return [(f"{prefix}/{p.relative_to(pkg).as_posix()}", p.read_bytes()) for p in source_files(pkg)]


def _name(requirement: str) -> str:
    """The distribution a requirement names, normalized: `Google_Cloud.Storage>=2` -> google-cloud-storage."""
    return canonicalize_name(Requirement(requirement).name)


def function_dependencies(project: dict[str, Any], name: str) -> list[str]:
    """The share of [project.dependencies] function `name` installs ([tool.gharchive.functions]:
    `common` plus the function's own list, by name; the version specs stay in one place)."""
    table = project.get("tool", {}).get("gharchive", {}).get("functions", {})
    if name not in table:
        raise ValueError(f"pyproject.toml: [tool.gharchive.functions] has no list for function {name!r}")
    wanted = {_name(n) for n in [*table.get("common", []), *table[name]]}
    deps: list[str] = project["project"]["dependencies"]
    unknown = sorted(wanted - {_name(d) for d in deps})
    if unknown:
        raise ValueError(f"function {name!r} wants {unknown}, which [project.dependencies] does not list")
    return [d for d in deps if _name(d) in wanted]


def function_pyproject(project: dict[str, Any], name: str) -> str:
    """pkg/pyproject.toml for a function: the project's build and metadata, its share of the dependencies."""
    meta = {
        k: v
        for k, v in project["project"].items()
        if k in {"name", "version", "description", "requires-python", "license"}
    }
    doc = {
        "build-system": project["build-system"],
        "project": {**meta, "dependencies": function_dependencies(project, name)},
        "tool": {"setuptools": project.get("tool", {}).get("setuptools", {})},
    }
    return (
        f"# generated by tools/package_functions.py from pyproject.toml for function {name}\n"
        + tomli_w.dumps(doc)
    )


def sdist_name(project: dict[str, Any]) -> str:
    """`gharchive_pipeline-0.1.0`: the archive's file stem and top directory."""
    return f"{project['project']['name'].replace('-', '_')}-{project['project']['version']}"


def source_archive(root: Path, name: str) -> tuple[str, bytes]:
    """The core package as a buildable source archive for function `name` (deterministic tar.gz):
    pyproject.toml with the function's dependencies, setup.py, src/gharchive_pipeline."""
    project = tomllib.loads((root / "pyproject.toml").read_text())
    top = sdist_name(project)
    members = [
        ("pyproject.toml", function_pyproject(project, name).encode()),
        ("setup.py", (root / "setup.py").read_bytes()),
        *core_members(root / "src", f"src/{CORE_PACKAGE}"),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in sorted(members):
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size, info.mtime, info.mode = len(data), ARCHIVE_MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return f"{top}.tar.gz", out.getvalue()


def lock_lines(root: Path, lock: str) -> str:
    """A lock's requirement lines (pins with hashes), without its header."""
    path = root / LOCKS / f"{lock}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python tools/lock_dependencies.py")
    return "".join(line for line in path.read_text().splitlines(True) if not line.startswith("# generated"))


def requirements(root: Path, name: str, archive: str, digest: str) -> str:
    """requirements.txt of function `name`: the package's source archive and the function's lock,
    every line hashed, so pip installs in hash-checking mode (a directory such as ./pkg cannot be
    hashed, which is why the package travels as an archive)."""
    return (
        f"# generated by tools/package_functions.py for function {name}: the core package from its\n"
        "# source archive (the native normalizer is compiled) and locks/" + name + ".txt.\n"
        f"# package source sha256 {digest}: a changed package changes this file, the Python\n"
        "# buildpack's dependency cache key, so a redeploy never reuses the old install\n"
        f"./{archive} --hash=sha256:{digest}\n" + lock_lines(root, name)
    )


def function_members(root: Path, name: str) -> list[tuple[str, bytes]]:
    """main.py, the core package's source archive and a generated requirements.txt.

    The Cloud Functions build runs `pip install -r requirements.txt`, which builds the archive like
    any project: setup.py compiles the native normalizer there (optional: without a compiler the
    pure-Python path is installed). The package is not also zipped at the root, where it would
    shadow the installed copy (and its compiled module) on the runtime's import path.
    """
    fdir = root / "functions" / name
    if not (fdir / "main.py").is_file():
        raise FileNotFoundError(f"function {name!r}: {fdir / 'main.py'} is missing")
    members = [(p.relative_to(fdir).as_posix(), p.read_bytes()) for p in source_files(fdir)]
    tops = {n.split("/", 1)[0] for n, _ in members}
    archives = {t for t in tops if t.endswith(".tar.gz")}
    taken = sorted(tops & {CORE_PACKAGE, "requirements.txt", "pkg"} | archives)
    if taken:
        raise ValueError(f"function {name!r}: {fdir} must not hold {taken} (the packager writes them)")
    archive, data = source_archive(root, name)
    digest = hashlib.sha256(data).hexdigest()
    reqs = requirements(root, name, archive, digest)
    return [*members, (archive, data), ("requirements.txt", reqs.encode())]


def spark_table(project: dict[str, Any]) -> dict[str, list[str]]:
    """[tool.gharchive.spark]: `runtime` (what the Dataproc image provides) and `bundle`."""
    table = project.get("tool", {}).get("gharchive", {}).get("spark", {})
    return {"runtime": list(table.get("runtime", [])), "bundle": list(table.get("bundle", []))}


def _record_digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def bundled_members(names: Iterable[str], locked: dict[str, str] | None = None) -> list[tuple[str, bytes]]:
    """The importable files of the installed distributions `names`, as archive entries at the zip's
    root (where --py-files puts them on the import path). Pure Python only: a compiled module would
    have to match the image's Python and platform, so one is refused. With `locked` (name ->
    version), a distribution of another version is refused, and so is a file that differs from the
    hash its installation recorded (RECORD): the bundle is the locked release, not whatever is here."""
    members: list[tuple[str, bytes]] = []
    for name in names:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise ValueError(f"the Spark bundle names {name!r}, which is not installed here") from None
        if locked is not None:
            want = locked.get(canonicalize_name(name))
            if want != dist.version:
                raise ValueError(
                    f"the Spark bundle's {name} is {dist.version} here, locks/spark.txt pins {want}: "
                    "install the locked versions (make setup) or regenerate the lock"
                )
        for f in dist.files or []:
            parts = f.parts
            if not parts or parts[0] in ("..", "bin") or parts[0].endswith((".dist-info", ".egg-info")):
                continue
            if _SKIP_DIRS.intersection(parts) or f.suffix in (".pyc", ".pyo", ".pth"):
                continue
            if f.suffix in (".so", ".pyd"):
                raise ValueError(f"the Spark bundle's {name!r} is not pure Python ({f})")
            data = Path(str(f.locate())).read_bytes()
            recorded = f"{f.hash.mode}={f.hash.value}" if f.hash is not None else None
            if locked is not None and recorded is not None and _record_digest(data) != recorded:
                raise ValueError(f"the Spark bundle's {name}: {f} differs from the installed release")
            members.append((f.as_posix(), data))
    return members


def spark_lock(root: Path) -> dict[str, str]:
    """locks/spark.txt as canonical name -> version."""
    from tools.lock_dependencies import pins

    path = root / LOCKS / "spark.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python tools/lock_dependencies.py")
    return pins(path)


def spark_members(root: Path) -> list[tuple[str, bytes]]:
    """The --py-files zip: the core package and its bundled pure-Python dependencies."""
    project = tomllib.loads((root / "pyproject.toml").read_text())
    return core_members(root / "src") + bundled_members(spark_table(project)["bundle"], spark_lock(root))


def build(root: Path = ROOT, out: Path | None = None) -> list[Artifact]:
    """Build every artifact under out (default root/build); returns them in build order."""
    out = out or root / "build"
    built = [write_zip(out / "functions" / f"{name}.zip", function_members(root, name)) for name in FUNCTIONS]
    built.append(write_zip(out / "spark" / f"{CORE_PACKAGE}.zip", spark_members(root)))
    script = root / "spark" / SPARK_SCRIPT
    if not script.is_file():
        raise FileNotFoundError(f"Spark job {script} is missing")
    dest = out / "spark" / SPARK_SCRIPT
    shutil.copyfile(script, dest)
    built.append(Artifact(dest, 1, dest.stat().st_size))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output directory (default: build)")
    args = parser.parse_args(argv)
    try:
        artifacts = build(ROOT, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    for a in artifacts:
        print(f"{a.path}  ({a.entries} files, {a.size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
