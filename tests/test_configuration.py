"""Every setting the service reads is documented in the README's configuration tables, with its default."""

from __future__ import annotations

import re
from dataclasses import fields

from gazepipe.config import Settings

from .service import REPO


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Configuration"):readme.index("## Running many instances")]
    documented = dict(re.findall(r"^\| `GAZEPIPE_([A-Z0-9_]+)` \| ((?:[^|\\]|\\.)+) \|", section, flags=re.MULTILINE))
    missing = [f.name for f in fields(Settings) if f.name.upper() not in documented]
    assert not missing, f"settings missing from the README's configuration tables: {missing}"
    defaults = Settings()
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        if isinstance(value, int | float) and not isinstance(value, bool) and f.name != "workers":
            cell = documented[f.name.upper()]
            assert re.search(rf"`{re.escape(str(value))}`|`{re.escape(str(int(value)))}`", cell), (
                f"GAZEPIPE_{f.name.upper()}: the README says {cell.strip()}, the default is {value}")
