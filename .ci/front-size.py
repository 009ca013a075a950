#!/usr/bin/env python3
"""Prints what a browser downloads for the front end — the WebAssembly module, its JS glue and
the stylesheet — raw, at gzip -9 (the usual measure, comparable across builds) and as the
brotli and gzip copies `--precompress` wrote, which the server sends. Usage:
front-size.py target/site/pkg"""

import gzip
import sys
from pathlib import Path


def kb(n: int) -> str:
    return f"{n / 1000:,.1f} KB"


def main() -> int:
    pkg = Path(sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg")
    print(f"front end in {pkg}:")
    # slipway.<ext>, or slipway.<hash>.<ext> with cargo-leptos's hash-files.
    for ext in ("wasm", "js", "css"):
        for path in sorted(pkg.glob(f"slipway*.{ext}")):
            data = path.read_bytes()
            line = f"  {path.name}: {kb(len(data))}, {kb(len(gzip.compress(data, 9)))} gzip -9"
            for copy in ("br", "gz"):
                served = path.parent / f"{path.name}.{copy}"
                if served.exists():
                    line += f", {kb(served.stat().st_size)} served as {copy}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
