"""terraform/ checked against the google provider's published schema, without terraform or the provider.

`terraform validate` needs the provider binary, which cannot be downloaded here. The provider's schema
(every resource type, argument and block of one release) is extracted from the CDK for Terraform
bindings into google_provider_schema.json by tools/generate_provider_schema.py; these tests hold every
resource, data source and the provider block of terraform/ against it: an unknown type, argument or
block, a block written as an argument (or the reverse), or a missing required one fails, as `terraform
validate` would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
DIGEST = Path(__file__).with_name("google_provider_schema.json")
REGENERATE = (
    "regenerate with `python tools/generate_provider_schema.py` (pip install cdktf-cdktf-provider-google)"
)

#: Terraform's meta-arguments, valid in every resource and data block
#: (https://developer.hashicorp.com/terraform/language/meta-arguments).
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection", "dynamic"}

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def digest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DIGEST.read_text())
    return loaded


def _parse(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(
        text, serialization_options=SerializationOptions(strip_string_quotes=True)
    )
    return parsed


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def check_body(body: dict[str, Any], schema: Schema, where: str, *, top: bool) -> Iterator[str]:
    """Every problem `terraform validate` would report in one block body against its schema."""
    arguments: dict[str, bool] = schema["arguments"]
    blocks: dict[str, Schema] = schema["blocks"]
    present: set[str] = set()
    for key, value in body.items():
        if key.startswith("__"):
            continue
        if top and key in META_ARGUMENTS:
            continue
        if key == "dynamic":  # dynamic "name" { for_each = ...; content { ... } } generates `name` blocks
            for dyn in value:
                for name, spec in dyn.items():
                    if name.startswith("__"):
                        continue
                    if name not in blocks:
                        yield f"{where}: dynamic block {name!r} is not a block of this type"
                        continue
                    present.add(name)
                    for content in spec.get("content", []):
                        yield from check_body(content, blocks[name], f"{where}.{name}", top=False)
            continue
        if top and key in META_BLOCKS:
            continue
        present.add(key)
        if key in blocks:
            if not _is_block(value):
                yield f"{where}: {key!r} is a block (write `{key} {{ ... }}`), not an argument"
                continue
            for item in value:
                yield from check_body(item, blocks[key], f"{where}.{key}", top=False)
        elif key in arguments:
            if _is_block(value):
                yield f"{where}: {key!r} is an argument (write `{key} = ...`), not a block"
        else:
            yield f"{where}: unsupported argument or block {key!r}"
    for name, required in arguments.items():
        if required and name not in present:
            yield f"{where}: required argument {name!r} is missing"
    for name, nested in blocks.items():
        if nested["required"] and name not in present:
            yield f"{where}: required block {name!r} is missing"


def check_module(docs: dict[str, dict[str, Any]], digest: dict[str, Any]) -> list[str]:
    """Problems in parsed .tf files (name -> parsed document)."""
    problems: list[str] = []
    known = {"resource": set(digest["resource_types"]), "data": set(digest["data_source_types"])}
    for fname, doc in docs.items():
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, named in block.items():
                    if rtype.startswith("__"):
                        continue
                    if rtype not in known[kind]:
                        problems.append(
                            f"{fname}: {kind} type {rtype!r} does not exist in google {digest['version']}"
                        )
                        continue
                    schema = digest["schemas"].get(f"{kind}.{rtype}")
                    if schema is None:
                        problems.append(f"{fname}: {kind} {rtype} is not in {DIGEST.name}: {REGENERATE}")
                        continue
                    for name, body in named.items():
                        if not name.startswith("__"):
                            problems += check_body(body, schema, f"{fname}: {kind}.{rtype}.{name}", top=True)
        for block in doc.get("provider", []):
            for name, body in block.items():
                if name == "google":
                    problems += check_body(
                        body, digest["schemas"]["provider.google"], f"{fname}: provider", top=True
                    )
                elif not name.startswith("__"):
                    problems.append(f"{fname}: provider {name!r} is not hashicorp/google")
    return problems


def test_terraform_uses_only_what_the_provider_has(digest: dict[str, Any]) -> None:
    docs = {p.name: _parse(p.read_text()) for p in sorted(TF.glob("*.tf"))}
    assert any(doc.get("resource") for doc in docs.values())
    problems = check_module(docs, digest)
    assert not problems, "\n".join(problems)


def test_the_schema_is_the_release_versions_tf_allows(digest: dict[str, Any]) -> None:
    """The digest's release satisfies `~> X.Y` in versions.tf, so it is a schema the apply can get."""
    versions = _parse((TF / "versions.tf").read_text())
    constraint = versions["terraform"][0]["required_providers"][0]["google"]["version"]
    m = re.fullmatch(r"~> (\d+)\.(\d+)", constraint)
    assert m, constraint
    major, minor = (int(x) for x in digest["version"].split(".")[:2])
    assert major == int(m.group(1)) and minor >= int(m.group(2)), (
        f"{digest['version']} is outside {constraint}"
    )
    assert digest["provider"] == "hashicorp/google"


def _check(text: str, digest: dict[str, Any]) -> list[str]:
    return check_module({"x.tf": _parse(text)}, digest)


def test_the_check_refuses_what_validate_refuses(digest: dict[str, Any]) -> None:
    """Each mistake below is one `terraform validate` reports; the check must report it too."""
    ok = (
        'resource "google_storage_bucket" "b" {\n  name = "x"\n  location = "US"\n'
        "  versioning {\n    enabled = true\n  }\n}\n"
    )
    assert _check(ok, digest) == []
    cases = {
        "unsupported argument or block 'colour'": ok.replace(
            'location = "US"', 'location = "US"\n  colour = "red"'
        ),
        "required argument 'location' is missing": ok.replace('location = "US"', ""),
        "'versioning' is a block": ok.replace("versioning {", "versioning = {"),
        "unsupported argument or block 'enabld'": ok.replace("enabled", "enabld"),
        "does not exist in google": ok.replace("google_storage_bucket", "google_storage_buckets"),
        "required block 'action' is missing": ok.replace(
            "versioning {", "lifecycle_rule {\n    condition {\n      age = 1\n    }\n  }\n  versioning {"
        ),
        "dynamic block 'conditon'": ok.replace(
            "versioning {",
            'dynamic "conditon" {\n    for_each = []\n    content {\n    }\n  }\n  versioning {',
        ),
    }
    for expected, text in cases.items():
        problems = _check(text, digest)
        assert any(expected in p for p in problems), f"{expected!r} not reported; got {problems}"


def test_every_type_terraform_declares_has_its_schema_in_the_digest(digest: dict[str, Any]) -> None:
    """A new resource type needs the digest regenerated (the message says how), never a hand edit."""
    text = 'resource "google_compute_network" "n" {\n  name = "x"\n}\n'
    problems = _check(text, digest)
    assert problems and REGENERATE in problems[0]
