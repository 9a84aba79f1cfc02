"""`make package` (tools/package_functions.py): function zips with the core package, Spark files,
byte-identical on rebuild, and importable the way the Cloud Functions runtime imports them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools import package_functions as pkg

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "spark" / pkg.SPARK_SCRIPT).is_file():
        pytest.skip("spark/load_events.py not written yet")
    out = tmp_path_factory.mktemp("build")
    pkg.build(ROOT, out)
    return out


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


@pytest.mark.parametrize("name", pkg.FUNCTIONS)
def test_function_zip_has_main_requirements_and_core_package(built: Path, name: str) -> None:
    names = _names(built / "functions" / f"{name}.zip")
    assert {"main.py", "requirements.txt", "gharchive_pipeline/__init__.py"} <= set(names)
    assert "gharchive_pipeline/storage/base.py" in names
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    core = {n for n in names if n.startswith("gharchive_pipeline/")}
    src = {
        f"gharchive_pipeline/{p.relative_to(ROOT / 'src' / 'gharchive_pipeline').as_posix()}"
        for p in pkg.source_files(ROOT / "src" / "gharchive_pipeline")
    }
    assert core == src


def test_spark_artifacts(built: Path) -> None:
    names = _names(built / "spark" / "gharchive_pipeline.zip")
    assert "gharchive_pipeline/schema.py" in names and "main.py" not in names
    script = built / "spark" / pkg.SPARK_SCRIPT
    assert script.read_bytes() == (ROOT / "spark" / pkg.SPARK_SCRIPT).read_bytes()


def test_rebuild_is_byte_identical(built: Path, tmp_path: Path) -> None:
    pkg.build(ROOT, tmp_path)
    for rel in [f"functions/{n}.zip" for n in pkg.FUNCTIONS] + ["spark/gharchive_pipeline.zip"]:
        assert (tmp_path / rel).read_bytes() == (built / rel).read_bytes(), rel


def test_zip_entries_have_fixed_time_and_mode(built: Path) -> None:
    with zipfile.ZipFile(built / "functions" / "ingest.zip") as zf:
        for info in zf.infolist():
            assert info.date_time == pkg.FIXED_TIME
            assert (info.external_attr >> 16) & 0o777 == 0o644


@pytest.mark.parametrize("name", pkg.FUNCTIONS)
def test_unpacked_function_imports_its_own_core_copy(built: Path, tmp_path: Path, name: str) -> None:
    """As in the runtime: main.py at the root, `import gharchive_pipeline` served from the zip."""
    with zipfile.ZipFile(built / "functions" / f"{name}.zip") as zf:
        zf.extractall(tmp_path)
    code = (
        "import sys; sys.path.insert(0, '.');"
        "import main, gharchive_pipeline;"
        f"assert callable(main.{name});"
        "print(gharchive_pipeline.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve().is_relative_to(tmp_path.resolve())


def test_requirements_from_pyproject_when_a_function_has_none(tmp_path: Path) -> None:
    (tmp_path / "functions" / "demo").mkdir(parents=True)
    (tmp_path / "functions" / "demo" / "main.py").write_text("def demo(event): pass\n")
    (tmp_path / "src" / "gharchive_pipeline").mkdir(parents=True)
    (tmp_path / "src" / "gharchive_pipeline" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["pyarrow>=15", "click"]\n'
    )
    members = dict(pkg.function_members(tmp_path, "demo"))
    assert members["requirements.txt"].decode().splitlines()[1:] == ["pyarrow>=15", "click"]
    assert set(members) == {"main.py", "requirements.txt", "gharchive_pipeline/__init__.py"}


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
