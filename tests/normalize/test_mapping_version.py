"""The pipeline version moves whenever the normalizer's output can change (tools/mapping_digest.py).

`pipeline_version` tells `gharchive renormalize` which hours an improved mapping has not reached yet:
a mapping change shipped under an old version would never be re-processed. This test recomputes a
digest of the normalized output of every bundled real hour and fails until the version has moved and
the new digest is recorded.
"""

from __future__ import annotations

from gharchive_pipeline import PIPELINE_VERSION, __version__
from tools import mapping_digest


def test_pipeline_version_moves_with_the_mapping() -> None:
    was = mapping_digest.recorded()
    now = mapping_digest.digest()
    if now != was.get("digest"):
        assert was.get("pipeline_version") != PIPELINE_VERSION, (
            f"the normalizer's output changed but PIPELINE_VERSION is still {PIPELINE_VERSION}: bump "
            "__version__ (src/gharchive_pipeline/__init__.py and pyproject.toml), then run "
            "`python tools/mapping_digest.py --write`"
        )
    assert (was.get("pipeline_version"), was.get("digest")) == (PIPELINE_VERSION, now), (
        "record the new version's digest: `python tools/mapping_digest.py --write`"
    )


def test_one_version_everywhere() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__ == PIPELINE_VERSION
