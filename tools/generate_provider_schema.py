"""Extract the google Terraform provider's schema for what terraform/ uses, from a package we can install.

Neither `terraform` nor its providers can be downloaded where the tests run, so `terraform validate`
cannot say that an argument or block does not exist. The CDK for Terraform bindings of the provider
(PyPI `cdktf-cdktf-provider-google`, npm `@cdktf/provider-google`) are generated from the provider's
own schema and ship it as a jsii assembly (`_jsii/*.jsii.tgz`, a JSON file). Their property names are
camelCase bindings; each property's documentation links the Terraform name
(`.../docs/resources/storage_bucket#lifecycle_rule`), which is what this reads, so no name is guessed.

Output: tests/deploy/google_provider_schema.json, committed, so the tests need no download:
  provider, version      the provider release the bindings were generated from (e.g. 6.50.0)
  resource_types,        every resource and data source type of that release (names only)
  data_source_types
  schemas                for the provider block and each type terraform/ declares:
                         {"arguments": {name: required?}, "blocks": {name: {"required": ..., ...}}}

Usage:
  pip install cdktf-cdktf-provider-google==16.12.1   # bindings of hashicorp/google 6.50.0
  python tools/generate_provider_schema.py [--source WHEEL|JSII_TGZ|.jsii]
(--source defaults to the installed package; the package need not be importable: nothing of it runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
OUTPUT = ROOT / "tests" / "deploy" / "google_provider_schema.json"
PACKAGE = "cdktf_cdktf_provider_google"
ASSEMBLY_PREFIX = "@cdktf/provider-google."

_LINK = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/google/([0-9.]+)/docs(?:/(resources|data-sources)/(\w+))?"
)
_ANCHOR = re.compile(r"#(\w+) ")

Schema = dict[str, Any]


def _read_assembly(source: Path) -> dict[str, Any]:
    """The jsii assembly (`package/.jsii`) from a wheel, the bundled .jsii.tgz, or the file itself."""
    data = source.read_bytes()
    if source.suffix == ".whl":
        with zipfile.ZipFile(io.BytesIO(data)) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            data = whl.read(name)
    if source.name.endswith((".tgz", ".tar.gz")) or source.suffix == ".whl":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile("package/.jsii")
            assert member is not None, f"{source}: no package/.jsii"
            data = member.read()
    assembly: dict[str, Any] = json.loads(data)
    return assembly


def _installed_source() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"{PACKAGE} is not installed: pip install cdktf-cdktf-provider-google, or pass --source"
        )
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("_jsii/*.jsii.tgz"))
    if not found:
        raise SystemExit(f"{PACKAGE} has no _jsii/*.jsii.tgz")
    return found[0]


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _fqns(type_ref: Any) -> Iterator[str]:
    """Every type name a jsii type reference mentions (unions, arrays and maps included)."""
    if isinstance(type_ref, dict):
        if "fqn" in type_ref:
            yield type_ref["fqn"]
        for value in type_ref.values():
            yield from _fqns(value)
    elif isinstance(type_ref, list):
        for value in type_ref:
            yield from _fqns(value)


class Assembly:
    def __init__(self, assembly: dict[str, Any]) -> None:
        self.types: dict[str, Any] = assembly["types"]
        self.package_version = assembly["version"]
        self.version = ""
        self.resources: dict[str, str] = {}  # resource type -> its Config struct
        self.data_sources: dict[str, str] = {}
        self.provider_config = ""
        for fqn, t in self.types.items():
            if t.get("kind") != "class" or not fqn.startswith(ASSEMBLY_PREFIX):
                continue
            m = _LINK.search(t.get("docs", {}).get("summary", ""))
            params = t.get("initializer", {}).get("parameters", [])
            config = next(
                (p["type"]["fqn"] for p in params if p["name"] == "config" and "fqn" in p["type"]), None
            )
            if not m or config is None:
                continue
            self.version = m.group(1)
            kind, name = m.group(2), m.group(3)
            if kind is None:
                self.provider_config = config
            elif kind == "resources":
                self.resources[f"google_{name}"] = config
            else:
                self.data_sources[f"google_{name}"] = config

    def struct(self, fqn: str) -> Schema:
        """{"arguments": {tf name: required}, "blocks": {tf name: {"required": ..., nested...}}}."""
        arguments: dict[str, bool] = {}
        blocks: dict[str, Schema] = {}
        for prop in self.types[fqn].get("properties", []):
            docs = prop.get("docs", {})
            anchor = _ANCHOR.search(docs.get("remarks", ""))
            name = anchor.group(1) if anchor else _snake(prop["name"])
            required = not prop.get("optional", False)
            nested = [f for f in _fqns(prop["type"]) if self.types.get(f, {}).get("datatype")]
            if nested and docs.get("summary", "") == f"{name} block.":
                blocks[name] = {"required": required, **self.struct(nested[0])}
            else:
                arguments[name] = required
        return {"arguments": dict(sorted(arguments.items())), "blocks": dict(sorted(blocks.items()))}


def used_types(root: Path = TERRAFORM) -> tuple[set[str], set[str]]:
    """Resource and data source types declared in root/*.tf."""
    import hcl2
    from hcl2 import SerializationOptions

    opts = SerializationOptions(strip_string_quotes=True)
    resources: set[str] = set()
    data: set[str] = set()
    for path in sorted(root.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f, serialization_options=opts)
        for kind, store in (("resource", resources), ("data", data)):
            for block in doc.get(kind, []):
                store.update(k for k in block if not k.startswith("__"))
    return resources, data


def digest(assembly: Assembly, resources: set[str], data: set[str]) -> dict[str, Any]:
    schemas: dict[str, Schema] = {"provider.google": assembly.struct(assembly.provider_config)}
    for rtype in sorted(resources & set(assembly.resources)):
        schemas[f"resource.{rtype}"] = assembly.struct(assembly.resources[rtype])
    for dtype in sorted(data & set(assembly.data_sources)):
        schemas[f"data.{dtype}"] = assembly.struct(assembly.data_sources[dtype])
    return {
        "provider": "hashicorp/google",
        "version": assembly.version,
        "extracted_from": f"cdktf-cdktf-provider-google {assembly.package_version}",
        "command": "python tools/generate_provider_schema.py",
        "resource_types": sorted(assembly.resources),
        "data_source_types": sorted(assembly.data_sources),
        "schemas": schemas,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--source", type=Path, help="wheel, .jsii.tgz or .jsii (default: the installed package)"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    assembly = Assembly(_read_assembly(args.source or _installed_source()))
    resources, data = used_types()
    result = digest(assembly, resources, data)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    missing = sorted(
        (resources - set(assembly.resources)) | {f"data.{d}" for d in data - set(assembly.data_sources)}
    )
    print(
        f"{args.output}: hashicorp/google {assembly.version}, {len(result['schemas'])} schemas",
        file=sys.stderr,
    )
    if missing:
        print(f"not in the provider: {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
