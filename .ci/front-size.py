#!/usr/bin/env python3
"""Prints what a browser downloads for the front end, raw, at gzip -9 (the usual measure,
comparable across builds) and as the brotli copies `--precompress` wrote, which the server
sends to browsers that take brotli:

- the first page: the main WebAssembly module, its JS glue, the split loader and the
  stylesheet — all that a page without a lazily loaded island needs (the catalog, the lists,
  the dashboards);
- each lazily loaded island (`#[island(lazy)]`): its own module and the shared chunks the
  split manifest lists for it, which a page with that island fetches on its first visit
  (each file compressed alone, as it is sent: many small files compress less well than one).

Usage: front-size.py target/site/pkg"""

import gzip
import json
import sys
from pathlib import Path


def kb(n: int) -> str:
    return f"{n / 1000:,.1f} KB"


def sizes(paths: list[Path]) -> tuple[int, int, int]:
    raw = gz = br = 0
    for path in paths:
        data = path.read_bytes()
        raw += len(data)
        gz += len(gzip.compress(data, 9))
        served = path.parent / f"{path.name}.br"
        br += served.stat().st_size if served.exists() else len(data)
    return raw, gz, br


def line(label: str, paths: list[Path]) -> str:
    raw, gz, br = sizes(paths)
    return f"  {label}: {kb(raw)}, {kb(gz)} gzip -9, {kb(br)} brotli ({len(paths)} files)"


def one(pkg: Path, pattern: str) -> list[Path]:
    return sorted(p for p in pkg.glob(pattern) if p.suffix not in (".br", ".gz"))


def main() -> int:
    pkg = Path(sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg")
    print(f"front end in {pkg}:")
    # slipway.<hash>.<ext> with cargo-leptos's hash-files; the loader of the split chunks.
    first = [p for ext in ("wasm", "js", "css") for p in one(pkg, f"slipway*.{ext}")]
    first += one(pkg, "__wasm_split*.js")
    for path in first:
        print(line(path.name, [path]))
    print(line("first page (main module, glue, loader, stylesheet)", first))
    manifests = one(pkg, "__wasm_split_manifest*.json")
    if manifests:
        manifest = json.loads(manifests[0].read_text())
        print("lazily loaded islands, on their page's first visit (own module + shared chunks):")
        # The manifest lists, for each island, every file it needs: its module and chunks.
        for loader, needs in sorted(manifest.items()):
            files = [pkg / f"{name}.wasm" for name in needs]
            island = loader.split("_loader_")[0]
            print(line(f"{island}", files))
            print(line(f"  page total with the first page's files", first + files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
