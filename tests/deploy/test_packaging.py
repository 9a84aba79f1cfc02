"""`make package` (tools/package_functions.py): function zips carrying the core package as a buildable
project (pkg/) with generated requirements, Spark files, byte-identical on rebuild, importable with
only the function's share of the dependencies, and (slow) built the way the Cloud Functions build
does it, with the native normalizer compiled."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata as md
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import native_rule, venvs
from tools import lock_dependencies as lock
from tools import package_functions as pkg

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    pkg.build(ROOT, out)
    return out


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def _unpack(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest


ARCHIVE = f"{pkg.sdist_name(PROJECT)}.tar.gz"


def _archive_files(data: bytes) -> dict[str, bytes]:
    """The source archive's files, relative to its top directory."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _unpack_function(zip_path: Path, dest: Path) -> Path:
    """The function's root as the runtime sees it, and the package source under dest/pkg."""
    root = _unpack(zip_path, dest)
    for rel, data in _archive_files((root / ARCHIVE).read_bytes()).items():
        (root / "pkg" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / rel).write_bytes(data)
    return root


def _requirement_lines(text: str) -> list[str]:
    """requirements.txt as logical lines (continuations joined), comments dropped."""
    joined = text.replace("\\\n", " ")
    return [
        " ".join(line.split())
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("name", pkg.FUNCTIONS)
def test_function_zip_has_main_generated_requirements_and_the_package_source(built: Path, name: str) -> None:
    names = _names(built / "functions" / f"{name}.zip")
    assert {"main.py", "requirements.txt", ARCHIVE} <= set(names)
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # not at the root too: it would shadow the installed copy (with its compiled module)
    assert not [n for n in names if n.startswith("gharchive_pipeline/")]
    with zipfile.ZipFile(built / "functions" / f"{name}.zip") as zf:
        files = _archive_files(zf.read(ARCHIVE))
    src = {
        f"src/gharchive_pipeline/{p.relative_to(ROOT / 'src' / 'gharchive_pipeline').as_posix()}"
        for p in pkg.source_files(ROOT / "src" / "gharchive_pipeline")
    }
    assert {
        n for n in files if n.startswith("src/")
    } == src and "src/gharchive_pipeline/normalize/_fastpath.c" in src
    assert files["setup.py"] == (ROOT / "setup.py").read_bytes()
    generated = tomllib.loads(files["pyproject.toml"].decode())
    assert generated["build-system"] == PROJECT["build-system"]
    assert generated["project"]["name"] == PROJECT["project"]["name"]
    assert generated["project"]["version"] == PROJECT["project"]["version"]
    deps = generated["project"]["dependencies"]
    assert deps == pkg.function_dependencies(PROJECT, name)
    assert set(deps) <= set(PROJECT["project"]["dependencies"])  # same specs: generated, never edited
    assert {"functions-framework", "cloudevents"} <= {canonicalize_name(Requirement(d).name) for d in deps}


@pytest.mark.parametrize("name", pkg.FUNCTIONS)
def test_function_requirements_pin_every_third_party_distribution_with_hashes(built: Path, name: str) -> None:
    """Deploy day resolves nothing: requirements.txt is the package's source archive and every
    distribution of the function's closure at the version the tests run with, each line with pip's
    hashes (hash-checking mode: pip refuses any other file). The package is an archive because
    pip cannot hash a directory such as ./pkg."""
    with zipfile.ZipFile(built / "functions" / f"{name}.zip") as zf:
        text, archive = zf.read("requirements.txt").decode(), zf.read(ARCHIVE)
    first, *rest = _requirement_lines(text)
    assert first == f"./{ARCHIVE} --hash=sha256:{hashlib.sha256(archive).hexdigest()}"
    pinned: dict[str, str] = {}
    for line in rest:
        spec, *hashes = line.split(" --hash=")
        assert hashes and all(h.startswith("sha256:") for h in hashes), line
        req = Requirement(spec)
        assert str(req.specifier).startswith("=="), line
        pinned[canonicalize_name(req.name)] = str(req.specifier)[2:]
    wanted = lock.closure(pkg.function_dependencies(PROJECT, name))
    assert pinned == wanted  # every third-party distribution, at the version installed here
    assert pinned["cloudevents"].startswith("1.")


def test_requirements_change_with_the_package_source(tmp_path: Path) -> None:
    """The Python buildpack reuses its installed dependencies while the requirements files' content
    (and the Python version) are unchanged (GoogleCloudPlatform/buildpacks, pkg/python/python.go:
    checkCache(ctx, l, cache.WithFiles(reqs...))): a requirements.txt of `./pkg` never changed, so a
    redeploy kept the old package. The archive's hash is in it: any source change changes it."""
    snap = _snapshot(tmp_path / "src-snapshot")
    before = dict(pkg.function_members(snap, "normalize"))
    hours = snap / "src" / "gharchive_pipeline" / "hours.py"
    hours.write_text(hours.read_text() + "\n# changed\n")
    after = dict(pkg.function_members(snap, "normalize"))
    assert before["requirements.txt"] != after["requirements.txt"]
    assert before["main.py"] == after["main.py"]
    digest = hashlib.sha256(after[ARCHIVE]).hexdigest()
    assert f"package source sha256 {digest}" in after["requirements.txt"].decode()


def test_locks_are_this_environments_versions() -> None:
    """locks/*.txt (tools/lock_dependencies.py) pin what the tests run with; a dependency upgraded
    here without regenerating them fails."""
    assert lock.main(["--check"]) == 0


def test_library_dependencies_have_upper_bounds() -> None:
    """Users of the library resolve ranges: each stops below the next untested major (cloudevents
    2.x has no cloudevents.http, which the functions import)."""
    for dep in PROJECT["project"]["dependencies"]:
        req = Requirement(dep)
        assert any(s.operator == "<" for s in req.specifier), dep
    [cloudevents] = [
        Requirement(d) for d in PROJECT["project"]["dependencies"] if d.startswith("cloudevents")
    ]
    assert not cloudevents.specifier.contains("2.0.0") and cloudevents.specifier.contains("1.12.0")


def test_spark_bundle_is_the_locked_release(tmp_path: Path) -> None:
    """The --py-files bundle copies this environment's files only if they are the locked versions,
    each file as its installation recorded it (RECORD hash)."""
    locked = pkg.spark_lock(ROOT)
    bundle = pkg.spark_table(PROJECT)["bundle"]
    assert {canonicalize_name(n) for n in bundle} <= set(locked)
    assert pkg.bundled_members(bundle, locked)
    with pytest.raises(ValueError, match=r"tenacity is .* locks/spark.txt pins 0\.0\.1"):
        pkg.bundled_members(["tenacity"], {**locked, "tenacity": "0.0.1"})


def test_functions_drop_what_only_the_cli_and_other_stages_need() -> None:
    def names(fn: str) -> set[str]:
        return {canonicalize_name(Requirement(d).name) for d in pkg.function_dependencies(PROJECT, fn)}

    for fn in pkg.FUNCTIONS:
        assert not names(fn) & {"duckdb", "rich", "google-cloud-bigquery", "pyspark"}, fn
    assert "google-cloud-pubsub" in names("ingest") and "google-cloud-pubsub" not in names("normalize")
    assert "google-cloud-dataproc" in names("spark_trigger") and "google-cloud-dataproc" not in names(
        "ingest"
    )


def test_function_lists_must_name_project_dependencies() -> None:
    project = {**PROJECT, "tool": {"gharchive": {"functions": {"common": [], "x": ["leftpad"]}}}}
    with pytest.raises(ValueError, match=r"function 'x' wants \['leftpad'\]"):
        pkg.function_dependencies(project, "x")
    with pytest.raises(ValueError, match="no list for function 'y'"):
        pkg.function_dependencies(project, "y")


def _closure(requirements: list[str]) -> set[str]:
    """Installed distributions `requirements` pull in, transitively (markers for this interpreter)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        with contextlib.suppress(md.PackageNotFoundError):
            todo += [Requirement(r) for r in md.requires(req.name) or []]
    return seen


@functools.cache
def _installed_prefixes() -> dict[str, set[str]]:
    """Distribution name -> its module prefixes, for everything installed here."""
    return {canonicalize_name(d.metadata["Name"]): _module_prefixes(d) for d in md.distributions()}


def _module_prefixes(dist: md.Distribution) -> set[str]:
    """Dotted module prefixes a distribution provides (google.cloud.X for the namespace packages)."""
    out: set[str] = set()
    for f in dist.files or []:
        parts = f.parts
        if not parts or parts[0] in ("..", "bin") or parts[0].endswith((".dist-info", ".egg-info", ".pth")):
            continue
        if f.suffix not in (".py", ".so") and len(parts) == 1:
            continue
        depth = 3 if parts[:2] == ("google", "cloud") else 2 if parts[0] == "google" else 1
        mod = list(parts[:depth])
        if len(mod) == len(parts):
            mod[-1] = mod[-1].split(".")[0]
        out.add(".".join(mod))
    return out


@pytest.mark.parametrize("name", pkg.FUNCTIONS)
def test_unpacked_function_imports_with_only_its_dependencies(built: Path, tmp_path: Path, name: str) -> None:
    """As in the runtime: main.py at the root and the package from pkg/ (as pip installs it); every
    installed module outside the function's dependency closure is blocked, so a missing dependency
    in [tool.gharchive.functions] fails here rather than in the cloud."""
    root = _unpack_function(built / "functions" / f"{name}.zip", tmp_path)
    allowed = _closure(pkg.function_dependencies(PROJECT, name)) | {"gharchive-pipeline"}
    prefixes = _installed_prefixes()
    mine = set().union(*(p for n, p in prefixes.items() if n in allowed))
    blocked = sorted(set().union(*(p for n, p in prefixes.items() if n not in allowed)) - mine)
    code = f"""
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if any(fullname == b or fullname.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{fullname}} is not among the function's dependencies")
sys.meta_path.insert(0, Block())
sys.path[:0] = [{str(root)!r}, {str(root / "pkg" / "src")!r}]
import main, gharchive_pipeline
assert callable(main.{name})
print(gharchive_pipeline.__file__)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve().is_relative_to(root.resolve())
    assert "google.cloud.bigquery" in blocked and "duckdb" in blocked  # the blocker does block


def test_spark_artifacts(built: Path) -> None:
    names = _names(built / "spark" / "gharchive_pipeline.zip")
    assert "gharchive_pipeline/schema.py" in names and "main.py" not in names
    script = built / "spark" / pkg.SPARK_SCRIPT
    assert script.read_bytes() == (ROOT / "spark" / pkg.SPARK_SCRIPT).read_bytes()


def _snapshot(snap: Path) -> Path:
    """A copy of what the packager reads: the shared working tree may change between two builds."""
    for rel in ("src", "functions", "spark", "locks"):
        shutil.copytree(ROOT / rel, snap / rel, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for rel in ("pyproject.toml", "setup.py"):
        shutil.copy2(ROOT / rel, snap / rel)
    return snap


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path / "src-snapshot")
    pkg.build(snap, tmp_path / "a")
    pkg.build(snap, tmp_path / "b")
    for rel in [f"functions/{n}.zip" for n in pkg.FUNCTIONS] + ["spark/gharchive_pipeline.zip"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_zip_entries_have_fixed_time_and_mode(built: Path) -> None:
    with zipfile.ZipFile(built / "functions" / "ingest.zip") as zf:
        for info in zf.infolist():
            assert info.date_time == pkg.FIXED_TIME
            assert (info.external_attr >> 16) & 0o777 == 0o644


def test_requirements_are_generated_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "functions" / "demo").mkdir(parents=True)
    (tmp_path / "functions" / "demo" / "main.py").write_text("def demo(event): pass\n")
    (tmp_path / "src" / "gharchive_pipeline").mkdir(parents=True)
    (tmp_path / "src" / "gharchive_pipeline" / "__init__.py").write_text("")
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\n[project]\nname = "x"\nversion = "1"\n'
        'dependencies = ["pyarrow>=15", "click", "Google_Cloud.Storage>=2"]\n'
        '[tool.gharchive.functions]\ncommon = ["pyarrow"]\ndemo = ["google-cloud-storage"]\n'
    )
    with pytest.raises(FileNotFoundError, match="lock_dependencies"):
        pkg.function_members(tmp_path, "demo")
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "demo.txt").write_text(
        "# generated by x\npyarrow==26.0.1 \\\n    --hash=sha256:ab\n"
    )
    members = dict(pkg.function_members(tmp_path, "demo"))
    assert set(members) == {"main.py", "requirements.txt", "x-1.tar.gz"}
    files = _archive_files(members["x-1.tar.gz"])
    assert set(files) == {"pyproject.toml", "setup.py", "src/gharchive_pipeline/__init__.py"}
    generated = tomllib.loads(files["pyproject.toml"].decode())
    assert generated["project"]["dependencies"] == ["pyarrow>=15", "Google_Cloud.Storage>=2"]
    digest = hashlib.sha256(members["x-1.tar.gz"]).hexdigest()
    assert _requirement_lines(members["requirements.txt"].decode()) == [
        f"./x-1.tar.gz --hash=sha256:{digest}",
        "pyarrow==26.0.1 --hash=sha256:ab",
    ]


def test_a_hand_kept_requirements_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "functions" / "demo").mkdir(parents=True)
    (tmp_path / "functions" / "demo" / "main.py").write_text("")
    (tmp_path / "functions" / "demo" / "requirements.txt").write_text("requests\n")
    with pytest.raises(ValueError, match=r"requirements\.txt"):
        pkg.function_members(tmp_path, "demo")


def test_missing_main_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="function 'nope'"):
        pkg.function_members(tmp_path, "nope")


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        pkg.write_zip(tmp_path / "x.zip", [("a", b"1"), ("a", b"2")])


def test_native_fast_path_is_built_here() -> None:
    """The native module is optional at install (no C compiler: pure Python, same output), so its
    own tests skip without it; this one makes a silently failed build fail CI instead."""
    from gharchive_pipeline.normalize import native

    if native.switched_off():
        pytest.skip("GHARCHIVE_NATIVE=0: the pure-Python path is wanted")

    assert native.AVAILABLE, "normalize/_fastpath.c was not built: run `make setup` (needs gcc)"


def test_function_zips_carry_no_compiled_modules(built: Path) -> None:
    for name in pkg.FUNCTIONS:
        assert not [n for n in _names(built / "functions" / f"{name}.zip") if n.endswith((".so", ".pyd"))]


#: What the build test normalizes: a real Events-era hour (every line is the native mapper's to take).
EVENTS_HOUR = "2015-01-01-0.json.gz"
BUILD_CHECK = """
import json, sys
from pathlib import Path
sys.path.insert(0, ".")  # the runtime's import path: the function's root first
import main
import gharchive_pipeline
from gharchive_pipeline import entrypoints, layout
from gharchive_pipeline.cloud_events import bucket_name, finalized_event
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.normalize import native
from gharchive_pipeline.settings import Settings
from gharchive_pipeline.storage import open_storage

src, work = Path(sys.argv[1]), Path(sys.argv[2])
hour = Hour.parse(src.name.removesuffix(".json.gz"))
raw, curated = open_storage(str(work / "raw")), open_storage(str(work / "curated"))
info = raw.put_file(layout.raw_object(hour), src)
event = finalized_event(bucket_name(raw.url), info)
ctx = cloud_context(Settings(curated_bucket=curated.url), raw=raw, curated=curated)
outcome = entrypoints.normalize(event, ctx)
[entry] = [e for e in read_ledger(raw, hour) if e.stage == "normalize"]
print(json.dumps({
    "package": gharchive_pipeline.__file__,
    "native": native.AVAILABLE,
    "outcome": str(outcome.outcome),
    "events": entry.details["events"],
    "eras": entry.details["eras"],
    "native_events": entry.details["native_events"],
}))
"""


@pytest.mark.slow
def test_normalize_function_build_compiles_the_native_normalizer(built: Path, tmp_path: Path) -> None:
    """The Cloud Functions Python build, reproduced: unpack the zip, `pip install -r requirements.txt`
    in a clean venv from the function's root, then run the function's handler on a real hour there:
    the native mapper must take every Events-era line it does not leave to Python's e-mail scrubber
    by design (tests/support/native_rule.py: an address-like '@' in a title), as the ledger's
    native_events says."""
    root = _unpack(built / "functions" / "normalize.zip", tmp_path / "function")  # as uploaded
    python = venvs.create(tmp_path / "venv")
    venvs.pip(python, "-r", "requirements.txt", cwd=root)
    (tmp_path / "work").mkdir()
    out = venvs.run(
        [python, "-c", BUILD_CHECK, ROOT / "data" / "gharchive" / EVENTS_HOUR, tmp_path / "work"], cwd=root
    )
    report = json.loads(out.strip().splitlines()[-1])
    assert Path(report["package"]).resolve().is_relative_to((tmp_path / "venv").resolve())
    assert report["native"], "the build did not compile normalize/_fastpath.c"
    assert report["outcome"] == "normalized"
    assert report["events"] == 7702 and report["eras"] == {"events": 7702}
    deferred = native_rule.deferred_by_design(ROOT / "data" / "gharchive" / EVENTS_HOUR)
    assert deferred <= report["events"] // 100
    assert report["native_events"] == report["eras"]["events"] - deferred


def test_spark_job_imports_with_only_the_dataproc_runtime_and_its_zip(built: Path, tmp_path: Path) -> None:
    """As on Dataproc Serverless: the job script, the --py-files zip on the import path (imported
    from the zip itself) and nothing installed beyond the image's set ([tool.gharchive.spark]
    runtime and what it pulls in): what the job imports, including its lazy BigQuery, GCS and Spark
    imports, must be in the image or bundled into the zip (tenacity, cloudevents, ...)."""
    table = pkg.spark_table(PROJECT)
    allowed = _closure(table["runtime"])
    bundled = {canonicalize_name(n) for n in table["bundle"]}
    prefixes = _installed_prefixes()
    mine = set().union(*(p for n, p in prefixes.items() if n in allowed))
    from_zip = {pkg.CORE_PACKAGE}.union(*(p for n, p in prefixes.items() if n in bundled))
    blocked = sorted(set().union(*(p for n, p in prefixes.items() if n not in allowed)) - mine - from_zip)
    zip_path = built / "spark" / f"{pkg.CORE_PACKAGE}.zip"
    code = f"""
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if any(fullname == b or fullname.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{fullname}} is neither in the Dataproc image nor in the job's zip")
sys.meta_path.insert(0, Block())
sys.path[:0] = [{str(zip_path)!r}, {str(built / "spark")!r}]
import load_events
import gharchive_pipeline.load.bigquery_sink, gharchive_pipeline.storage.gcs, pyspark.sql
for name in ("gharchive_pipeline", "tenacity", "cloudevents", "deprecation"):
    if name in ("cloudevents", "deprecation") and name not in sys.modules:
        continue  # the stages' CloudEvents (and what they pull in): the load package needs neither
    assert sys.modules[name].__file__.startswith({str(zip_path)!r}), sys.modules[name].__file__
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "duckdb" in blocked and "orjson" in blocked and "tenacity" not in blocked  # the blocker blocks
