"""The native fast path under AddressSanitizer and UndefinedBehaviorSanitizer.

`_fastpath.c` parses untrusted bytes, so it is built again here with `-fsanitize=address,undefined`
and fed every prefix of real Events-era lines (truncation anywhere), random byte mutations of them,
numbers past int64, escapes and blocks of lines; any out-of-bounds access, use after free, overflow
or other undefined behaviour aborts the child process with a report. (Found this way: a signed
overflow while reading 20-digit numbers, and memcpy into a not yet allocated buffer.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "gharchive_pipeline" / "normalize" / "_fastpath.c"

FUZZ = r"""
import gzip, random, sys
sys.path.insert(0, sys.argv[1])
import _fastpath

random.seed(20261129)
lines = []
for name in ("2015-01-01-0.json.gz", "2015-01-01-1.json.gz"):
    lines += gzip.open(f"{sys.argv[2]}/{name}").read().split(b"\n")[:200]
lines += [
    b'{"id":"1","type":"PushEvent","actor":{"id":18446744073709551616},"payload":{"size":-0}}',
    b'{"id":99999999999999999999999,"type":"X","actor":{},"created_at":"2015-01-01T00:00:00Z"}',
    b'{"id":"1","type":"PushEvent","actor":{},"payload":{"commits":[{"author":{"email":"\\u00e9@x\\ud83d\\ude00"}}]}}',
    b'{"a":"\\ud800"}', b'"\\', b'{"', b"{", b"[" * 300, b'{"x":' * 300,
]
# issue 13: quoted, %40 and non-ASCII local parts, '@' in column values, created_at windows
HEAD = b'{"id":"2","type":"PushEvent","actor":{"id":1,"login":"a"},"repo":{"id":2,"name":"x/y"},"payload":'
TAIL = b',"public":true,"created_at":"2015-01-01T00:00:00Z"}'
hostile = [
    HEAD + b'{"m":"\\"@p \\"a b\\" \\"@q \xc3\xa9\xc3\xa9@x.org %40 \\"\\"@ \\"@\\"@\\"x\\"@"}' + TAIL,
    HEAD + b'{"m":"\\"john doe\\"@example.com \\"x\\"@y.org","c":"\\" a\\"@b.org"}' + TAIL,
    HEAD + b'{"m":"' + b"\xc3\xa9" * 90 + b'@ex.org %4 %40"}' + TAIL,
    HEAD.replace(b'"a"', b'"a%40b"') + b'{"ref":"a@b"}' + TAIL.replace(b"2015", b"9999"),
]
lines = hostile + lines
for line in lines[:29]:
    _fastpath.map_lines([line[:i] for i in range(0, len(line) + 1, 2)])
    _fastpath.map_lines([line], 0, 1420070400000000)
alphabet = b'{}[]":,\\u0123456789abcdef@.-\n\r\t \x00\x7f\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80'
for _ in range(8000):
    line = bytearray(random.choice(lines))
    for _ in range(random.randint(1, 6)):
        pos = random.randrange(len(line) + 1)
        op = random.random()
        if op < 0.4 and line:
            del line[pos % len(line)]
        elif op < 0.8:
            line.insert(pos, random.choice(alphabet))
        elif line:
            line[pos % len(line)] = random.choice(alphabet)
    _fastpath.map_lines([bytes(line)])
block = b"\n".join(lines)
_fastpath.map_lines([block, memoryview(block)[7:-7], b"", b"\n\n"])
_fastpath.count_lines(block, 0, len(block))
print("fuzzed")
"""


def _runtime(name: str) -> str | None:
    """Path of a sanitizer runtime next to gcc, or None."""
    out = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return out if out and os.path.isabs(out) and os.path.exists(out) else None


@pytest.mark.slow
def test_fast_path_is_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the native module is not built here either")
    runtimes = [_runtime("libasan.so"), _runtime("libubsan.so")]
    if None in runtimes:
        pytest.skip("gcc has no AddressSanitizer/UBSan runtime here")
    module = tmp_path / ("_fastpath" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(
        ["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-std=c11",
         "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", str(SOURCE), "-o", str(module)],
        check=True,
    )  # fmt: skip
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ)
    env = {
        **os.environ,
        "LD_PRELOAD": ":".join(r for r in runtimes if r),
        "ASAN_OPTIONS": "detect_leaks=0",  # CPython itself keeps memory until exit
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(ROOT / "data" / "gharchive")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    report = result.stderr[-4000:]
    assert result.returncode == 0 and "fuzzed" in result.stdout, report
    assert "runtime error" not in result.stderr, report
