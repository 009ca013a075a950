#!/usr/bin/env python3
"""Prints what a browser downloads for the front end: the main module and, per page, the
chunks its first visit adds (from cargo-leptos's split manifest), raw, gzip -9 and as
brotli (the copies `--precompress` wrote, which the server sends), so the figures in
docs/performance.md can be read off any build. Usage: front-size.py target/site/pkg"""

import gzip
import json
import re
import sys
from pathlib import Path


def sizes(path: Path) -> tuple[int, int]:
    """Raw size and gzip level 9 (the usual measure, comparable across builds)."""
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, 9))


def served_gz(path: Path) -> int | None:
    """The `.gz` copy `--precompress` wrote, which a browser that takes gzip but not brotli
    gets (libflate's default level: larger than gzip -9)."""
    gz = path.parent / f"{path.name}.gz"
    return gz.stat().st_size if gz.exists() else None


def kb(n: int) -> str:
    return f"{n / 1000:,.1f} KB"


def main() -> int:
    pkg = Path(sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg")
    # slipway.wasm, or slipway.<hash>.wasm with cargo-leptos's hash-files.
    wasm = next(p for p in sorted(pkg.glob("slipway*.wasm")))
    js = next(p for p in sorted(pkg.glob("slipway*.js")))
    main_raw, main_gz = sizes(wasm)
    js_raw, js_gz = sizes(js)
    loaders = sorted(pkg.glob("__wasm_split*.js"))
    loader_gz = sum(sizes(p)[1] for p in loaders)
    manifests = sorted(pkg.glob("__wasm_split_manifest*.json"))
    chunks = [p for p in pkg.glob("*.wasm") if p != wasm]
    all_chunks_gz = sum(sizes(p)[1] for p in chunks)
    # Brotli copies exist after `--precompress`; browsers that accept br get those.
    brotli = (pkg / f"{wasm.name}.br").exists()

    def br(path: Path) -> int:
        return (path.parent / f"{path.name}.br").stat().st_size

    print(f"front end in {pkg}:")
    print(f"  main module   {wasm.name}: {kb(main_raw)}, {kb(main_gz)} gzip -9"
          + (f", {kb(br(wasm))} brotli" if brotli else "")
          + (f", {kb(served_gz(wasm))} as served gzip" if served_gz(wasm) else ""))
    print(f"  JS glue       {js.name}: {kb(js_raw)}, {kb(js_gz)} gzipped")
    if not manifests:
        print(f"  not split: every page loads {kb(main_gz + js_gz)} gzipped")
        return 0
    print(f"  split loader  {kb(loader_gz)} gzipped; {len(chunks)} chunks, {kb(all_chunks_gz)} gzipped in all")
    manifest = json.loads(manifests[0].read_text())
    base = main_gz + js_gz + loader_gz
    base_br = br(wasm) + br(js) + sum(br(p) for p in loaders) if brotli else 0
    print(f"  {'first visit to':<28} {'chunks':>6} {'chunks gz':>10} {'total gz':>10}"
          + (f" {'total br':>10}" if brotli else ""))
    rows = []
    for key, modules in manifest.items():
        # The key is the split point's name: `<route in snake case>_view_<hash>` for a page.
        name = re.sub(r"_\d+$", "", key).strip("_")
        files = [pkg / f"{m}.wasm" for m in modules]
        gz = sum(sizes(f)[1] for f in files)
        rows.append((name, len(files), gz, sum(br(f) for f in files) if brotli else 0))
    for name, count, gz, b in sorted(rows):
        print(f"  {name:<28} {count:>6} {kb(gz):>10} {kb(base + gz):>10}"
              + (f" {kb(base_br + b):>10}" if brotli else ""))
    if not rows:
        return 0
    worst = max(rows, key=lambda r: r[2])
    print(f"  largest first visit ({worst[0]}): {kb(base + worst[2])} gzipped"
          + (f", {kb(base_br + worst[3])} brotli" if brotli else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
