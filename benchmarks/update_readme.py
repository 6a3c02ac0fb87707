"""Copy generated results tables into README.md between their markers, so no figure is typed by hand.

A block ``<!-- results: benchmarks/results/x.md -->`` ... ``<!-- /results -->`` is replaced by
the current contents of that file. ``tests/test_readme.py`` fails when the README and the
files disagree.

    python benchmarks/update_readme.py
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def filled(readme: str) -> str:
    def sub(m: re.Match) -> str:
        body = (ROOT / m["path"]).read_text()
        return m.group(1) + body.rstrip("\n") + "\n" + m.group(4)

    return BLOCK.sub(sub, readme)


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    new = filled(text)
    if new != text:
        path.write_text(new)
        print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
