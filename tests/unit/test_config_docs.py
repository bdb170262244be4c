"""The README's configuration tables say what bifrost_streams/config.py declares.

When one of these fails, change the declaration and paste the output of
`python -m bifrost_streams.config --markdown` over the README's tables.
"""
import re
from pathlib import Path

from bifrost_streams import config

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| variable | bifrost.yaml |"
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
# Read by load() itself to find bifrost.yaml; not a setting.
NOT_SETTINGS = {"BIFROST_CONFIG"}


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _readme_rows():
    """Every row of the README's configuration tables: (variable, [the other cells])."""
    rows, in_table = [], False
    for line in _readme().splitlines():
        if line.startswith(HEADER):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not line.startswith("|---"):
            cells = [cell.strip() for cell in CELL_SEPARATOR.split(line)[1:-1]]
            rows.append((cells[0].strip("`"), cells[1:]))
    return rows


def _declared_rows():
    rows = {}
    for table in config.markdown_tables().values():
        for line in table.splitlines()[2:]:
            cells = [cell.strip() for cell in CELL_SEPARATOR.split(line)[1:-1]]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_declared_setting_is_in_the_readme_with_its_key_default_and_meaning():
    readme = dict(_readme_rows())
    declared = _declared_rows()
    assert set(declared) == {option.env for option in config.OPTIONS.values()}
    missing = sorted(set(declared) - set(readme))
    assert not missing, f"not in the README's configuration tables: {missing}"
    differing = {env: {"README": readme[env], "declared": cells}
                 for env, cells in declared.items() if readme[env] != cells}
    assert not differing, differing


def test_the_readme_names_no_setting_that_is_not_declared():
    declared = {option.env for option in config.OPTIONS.values()}
    in_tables = [env for env, _ in _readme_rows()]
    undeclared = sorted(set(in_tables) - declared)
    assert not undeclared, f"in the README's tables but not declared: {undeclared}"
    assert len(in_tables) == len(set(in_tables)), "a variable has two rows"
    named = set(re.findall(r"\bBIFROST_[A-Z0-9_]*[A-Z0-9]\b", _readme()))
    undeclared = sorted(named - declared - NOT_SETTINGS)
    assert not undeclared, f"named in the README but not declared: {undeclared}"


def test_the_readme_holds_each_table_as_generated():
    readme = _readme()
    for group, table in config.markdown_tables().items():
        assert table in readme, f"the README's {group} table differs from the declaration"


def test_the_markdown_command_prints_every_table(capsys):
    assert config._main(["--markdown"]) == 0
    printed = capsys.readouterr().out
    for group, table in config.markdown_tables().items():
        assert f"**{group}**\n\n{table}" in printed
